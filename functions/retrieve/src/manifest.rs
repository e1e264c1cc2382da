//! What the segmented embedded index is made of, free of I/O: a manifest naming a base (a
//! whole SQLite file, compacted) and the segments written since (each a log of writes as
//! JSON lines, one sequence number per write). A small write's segment rides inside the
//! manifest instead of an object of its own. Segments merge size-tiered: eight of a level
//! become one of the next by concatenation, so a segment's bytes are uploaded once per level;
//! the log folds into a new base once it holds a quarter of the base's bytes, and a small
//! index folds instead of merging ([`LogPolicy`]). Decision 0034.

use std::ops::Range;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::index::IndexedDocument;

/// The manifest's key in retrieve's bucket: the one object every writer replaces
/// conditionally.
pub const MANIFEST_KEY: &str = "index/manifest.json";

/// Where the whole index lived before segments: read as the base while no manifest exists.
pub const LEGACY_SNAPSHOT_KEY: &str = "index/seams.sqlite";

/// When segments merge and the log folds into a new base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPolicy {
    /// This many segments of one level, newest last, merge into one of the next level.
    pub merge_fanout: usize,
    /// The log folds into a new base once its bytes reach the base's divided by this...
    pub compact_ratio: u64,
    /// ...and not before it holds this much.
    pub compact_min_log_bytes: u64,
    /// A write's segment of at most this many bytes rides inside the manifest (0: never), so
    /// the write is one put and a cold start reads no object for it.
    pub inline_max_bytes: u64,
    /// An index whose base and log hold at most this many bytes folds its log into a new base
    /// where it would merge segments: uploading it whole costs less than the objects a cold
    /// start would otherwise read.
    pub small_index_bytes: u64,
}

impl Default for LogPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl LogPolicy {
    /// Each byte written is uploaded about once per level (three levels up to 512 writes),
    /// then once more in a base four times the log's size. Below 8 MiB of log, a query
    /// function's start applies it in well under a second. A tombstone or a one-chunk document
    /// rides in the manifest; at most a fanout's worth (32 KiB) is uploaded again with each
    /// manifest.
    pub const DEFAULT: Self = Self {
        merge_fanout: 8,
        compact_ratio: 4,
        compact_min_log_bytes: 8 << 20,
        inline_max_bytes: 4 << 10,
        small_index_bytes: 1 << 20,
    };
}

/// A compacted index: every write up to `through` is in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Base {
    pub key: String,
    pub through: u64,
    pub bytes: u64,
}

/// Where a segment's lines are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SegmentBody {
    /// An object of its own.
    Stored { key: String },
    /// Inside the manifest: a small write, until a merge or a compaction takes it in.
    Inline {
        #[serde(rename = "inline")]
        lines: String,
    },
}

/// A segment: the writes numbered `first..=last`, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentRef {
    #[serde(flatten)]
    pub body: SegmentBody,
    pub first: u64,
    pub last: u64,
    pub bytes: u64,
    /// 0 for a write's own segment, one more for each merge.
    pub level: u32,
}

/// The index as of one moment: the base, then the segments, oldest first, numbered on from
/// the base without a gap.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub base: Option<Base>,
    #[serde(default)]
    pub segments: Vec<SegmentRef>,
}

impl Manifest {
    /// An index written before segments: its one file is the base.
    pub fn legacy(bytes: u64) -> Self {
        Self { base: Some(Base { key: LEGACY_SNAPSHOT_KEY.into(), through: 0, bytes }), segments: Vec::new() }
    }

    /// The number of the base's last write (0 when there is none).
    pub fn base_through(&self) -> u64 {
        self.base.as_ref().map_or(0, |base| base.through)
    }

    /// The number of the newest write.
    pub fn through(&self) -> u64 {
        self.segments.last().map_or(self.base_through(), |segment| segment.last)
    }

    pub fn log_bytes(&self) -> u64 {
        self.segments.iter().map(|segment| segment.bytes).sum()
    }

    /// Every segment holding a write numbered after `applied`.
    pub fn segments_after(&self, applied: u64) -> impl Iterator<Item = &SegmentRef> {
        self.segments.iter().filter(move |segment| segment.last > applied)
    }

    /// This manifest with one more write's segment.
    pub fn appended(&self, body: SegmentBody, bytes: u64) -> (Self, u64) {
        let seq = self.through() + 1;
        let mut next = self.clone();
        next.segments.push(SegmentRef { body, first: seq, last: seq, bytes, level: 0 });
        (next, seq)
    }

    /// Whether the next write's segment, `bytes` long, rides inside the manifest. The
    /// segments riding in it are bounded too (a fanout's worth), in case merges keep failing.
    pub fn inlines(&self, bytes: u64, policy: &LogPolicy) -> bool {
        let inline: u64 = self.segments.iter().filter(|s| s.is_inline()).map(|s| s.bytes).sum();
        bytes <= policy.inline_max_bytes && inline + bytes <= policy.inline_max_bytes * policy.merge_fanout as u64
    }

    /// The newest run of `fanout` segments of one level, if the log has one and is not small
    /// enough to fold instead. Levels never rise towards the newest segment, so merging the
    /// newest run keeps it that way.
    pub fn merge_due(&self, policy: &LogPolicy) -> Option<Range<usize>> {
        let fanout = policy.merge_fanout;
        (!self.is_small(policy) && self.run_due(fanout)).then(|| self.segments.len() - fanout..self.segments.len())
    }

    /// Whether the newest segments include `fanout` of one level.
    fn run_due(&self, fanout: usize) -> bool {
        let Some(level) = self.segments.last().map(|segment| segment.level) else { return false };
        let run = self.segments.iter().rev().take_while(|segment| segment.level == level).count();
        fanout > 1 && run >= fanout
    }

    fn is_small(&self, policy: &LogPolicy) -> bool {
        self.base_bytes() + self.log_bytes() <= policy.small_index_bytes
    }

    fn base_bytes(&self) -> u64 {
        self.base.as_ref().map_or(0, |base| base.bytes)
    }

    /// This manifest with the segments in `range` replaced by `key`, their concatenation.
    pub fn merged(&self, range: Range<usize>, key: String) -> Self {
        let run = &self.segments[range.clone()];
        let merged = SegmentRef {
            body: SegmentBody::Stored { key },
            first: run.first().map_or(0, |s| s.first),
            last: run.last().map_or(0, |s| s.last),
            bytes: run.iter().map(|s| s.bytes).sum(),
            level: run.first().map_or(0, |s| s.level) + 1,
        };
        let mut next = self.clone();
        next.segments.splice(range, [merged]);
        next
    }

    /// Whether the log is big enough, against the base, to fold into a new one; or the index
    /// is small and a merge would be due.
    pub fn compaction_due(&self, policy: &LogPolicy) -> bool {
        let log = self.log_bytes();
        let big_log = log >= policy.compact_min_log_bytes.max(self.base_bytes() / policy.compact_ratio.max(1));
        log > 0 && (big_log || (self.is_small(policy) && self.run_due(policy.merge_fanout)))
    }

    /// This manifest with `base` in place of its base and every segment `base` covers.
    pub fn compacted(&self, base: Base) -> Self {
        let segments = self.segments.iter().filter(|segment| segment.first > base.through).cloned().collect();
        Self { base: Some(base), segments }
    }

    /// The objects this manifest names and `next` does not: no reader of `next` needs them.
    pub fn replaced_by(&self, next: &Manifest) -> Vec<String> {
        let named = next.keys();
        self.keys().into_iter().filter(|key| !named.contains(key)).collect()
    }

    /// The objects this manifest names: its base and its stored segments.
    fn keys(&self) -> Vec<String> {
        let base = self.base.iter().map(|base| base.key.clone());
        base.chain(self.segments.iter().filter_map(|segment| segment.key().map(str::to_owned))).collect()
    }
}

impl SegmentRef {
    /// The object holding this segment; `None` when it rides in the manifest.
    pub fn key(&self) -> Option<&str> {
        match &self.body {
            SegmentBody::Stored { key } => Some(key),
            SegmentBody::Inline { .. } => None,
        }
    }

    pub fn is_inline(&self) -> bool {
        matches!(self.body, SegmentBody::Inline { .. })
    }
}

/// One write to the index, as a segment logs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Write {
    Upsert(Box<IndexedDocument>),
    Delete { document_id: String, deleted_at: DateTime<Utc> },
}

/// A segment's line: a write and its number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedWrite {
    pub seq: u64,
    pub write: Write,
}

#[derive(Debug, thiserror::Error)]
#[error("segment line {line}: {source}")]
pub struct SegmentError {
    line: usize,
    source: serde_json::Error,
}

/// A segment holding one write. Merged segments are these lines concatenated.
pub fn encode(logged: &LoggedWrite) -> Result<String, serde_json::Error> {
    let mut line = serde_json::to_string(logged)?;
    line.push('\n');
    Ok(line)
}

/// A segment's writes, in order.
pub fn decode(body: &[u8]) -> Result<Vec<LoggedWrite>, SegmentError> {
    body.split(|byte| *byte == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(i, line)| serde_json::from_slice(line).map_err(|source| SegmentError { line: i + 1, source }))
        .collect()
}

/// Vectors in segments: little-endian `f32`s in base64, exact, and under half the size of
/// JSON numbers.
pub(crate) mod vector_base64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(vector: &[f32], serializer: S) -> Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f32>, D::Error> {
        let bytes = STANDARD.decode(String::deserialize(deserializer)?).map_err(D::Error::custom)?;
        if bytes.len() % 4 != 0 {
            return Err(D::Error::custom("a vector's bytes come in fours"));
        }
        Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }
}

/// Keys unique per attempt, so a write that lost a race never overwrites the winner's object.
pub fn segment_key(first: u64, last: u64, nonce: &str) -> String {
    format!("index/segments/{first:012}-{last:012}-{nonce}.jsonl")
}

pub fn base_key(through: u64, nonce: &str) -> String {
    format!("index/bases/{through:012}-{nonce}.sqlite")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default policy, for an index too big to fold its log at each merge.
    const BIG: LogPolicy = LogPolicy { small_index_bytes: 0, ..LogPolicy::DEFAULT };

    fn stored(key: &str) -> SegmentBody {
        SegmentBody::Stored { key: key.into() }
    }

    fn with_writes(n: u64, bytes: u64) -> Manifest {
        let mut manifest = Manifest::default();
        for i in 0..n {
            manifest = manifest.appended(stored(&format!("s{i}")), bytes).0;
            while let Some(range) = manifest.merge_due(&BIG) {
                let key = format!("m{}", manifest.through());
                manifest = manifest.merged(range, key);
            }
        }
        manifest
    }

    #[test]
    fn writes_are_numbered_on_from_the_base() {
        let mut manifest = Manifest::legacy(100);
        assert_eq!(manifest.through(), 0);
        let seq;
        (manifest, seq) = manifest.appended(stored("a"), 10);
        assert_eq!((seq, manifest.through()), (1, 1));
        manifest = manifest.compacted(Base { key: "b".into(), through: 1, bytes: 110 });
        assert_eq!(manifest.appended(stored("c"), 5).1, 2);
    }

    #[test]
    fn segments_merge_eight_at_a_time_level_by_level() {
        // 8 × 8 + 3 writes: one level-2 segment and three of level 0.
        let manifest = with_writes(67, 1);
        let levels: Vec<u32> = manifest.segments.iter().map(|s| s.level).collect();
        assert_eq!(levels, [2, 0, 0, 0]);
        assert_eq!((manifest.segments[0].first, manifest.segments[0].last, manifest.segments[0].bytes), (1, 64, 64));
        assert_eq!(manifest.through(), 67);
        // Contiguous: each segment starts right after the one before.
        for pair in manifest.segments.windows(2) {
            assert_eq!(pair[1].first, pair[0].last + 1);
        }
        // The count stays bounded by (fanout − 1) per level.
        assert!(with_writes(4095, 1).segments.len() <= 4 * (LogPolicy::default().merge_fanout - 1));
    }

    #[test]
    fn a_reader_fetches_only_segments_with_writes_it_lacks() {
        let manifest = with_writes(10, 1);
        let keys: Vec<&str> = manifest.segments_after(8).filter_map(SegmentRef::key).collect();
        assert_eq!(keys, ["s8", "s9"]);
        // Inside a merged segment: the whole segment, whose earlier lines the reader skips.
        assert_eq!(manifest.segments_after(3).count(), 3);
    }

    #[test]
    fn compaction_waits_for_a_quarter_of_the_base_and_a_floor() {
        let policy = LogPolicy::default();
        let big = 400 << 20;
        let mut manifest =
            Manifest { base: Some(Base { key: "b".into(), through: 0, bytes: big }), ..Manifest::default() };
        manifest = manifest.appended(stored("s"), (big / 4) - 1).0;
        assert!(!manifest.compaction_due(&policy));
        manifest = manifest.appended(stored("t"), 1).0;
        assert!(manifest.compaction_due(&policy));
        // A small index waits for the floor.
        let small = Manifest::default().appended(stored("s"), policy.compact_min_log_bytes - 1).0;
        assert!(!small.compaction_due(&policy));
        assert!(!Manifest::default().compaction_due(&policy));
    }

    #[test]
    fn a_small_index_folds_its_log_where_a_bigger_one_merges() {
        let policy = LogPolicy::default();
        let eight = with_writes(7, 1).appended(stored("s7"), 1).0;
        assert_eq!(eight.merge_due(&policy), None);
        assert!(eight.compaction_due(&policy));
        assert_eq!(eight.merge_due(&BIG), Some(0..8));
        assert!(!eight.compaction_due(&BIG));
        // Seven writes: neither.
        assert!(!with_writes(7, 1).compaction_due(&policy));
        // Over the size, the small index's rule no longer applies.
        let over = with_writes(7, policy.small_index_bytes / 7).appended(stored("s7"), 8).0;
        assert_eq!(over.merge_due(&policy), Some(0..8));
    }

    #[test]
    fn small_writes_ride_in_the_manifest_a_fanouts_worth_at_most() {
        let policy = LogPolicy::default();
        let max = policy.inline_max_bytes;
        let inline = |manifest: &Manifest| manifest.appended(SegmentBody::Inline { lines: "x".into() }, max).0;
        let mut manifest = Manifest::default();
        assert!(manifest.inlines(max, &policy));
        assert!(!manifest.inlines(max + 1, &policy));
        for _ in 0..policy.merge_fanout - 1 {
            manifest = inline(&manifest);
        }
        assert!(manifest.inlines(max, &policy));
        manifest = inline(&manifest);
        assert!(!manifest.inlines(1, &policy));
        // A stored segment does not count against them.
        assert!(with_writes(3, max).inlines(max, &policy));
        assert!(!Manifest::default().inlines(1, &LogPolicy { inline_max_bytes: 0, ..policy }));
    }

    #[test]
    fn inline_segments_round_trip_and_name_no_object() {
        // A manifest written before inline segments reads as before.
        let old = r#"{"segments":[{"key":"k","first":1,"last":1,"bytes":3,"level":0}]}"#;
        let manifest: Manifest = serde_json::from_str(old).unwrap();
        assert_eq!(manifest.segments[0].key(), Some("k"));
        let (next, _) = manifest.appended(SegmentBody::Inline { lines: "{}\n".into() }, 3);
        let json = serde_json::to_string(&next).unwrap();
        assert!(json.contains(r#""inline":"{}\n""#), "{json}");
        let read: Manifest = serde_json::from_str(&json).unwrap();
        assert_eq!(read, next);
        assert!(read.segments[1].is_inline());
        assert_eq!(read.replaced_by(&Manifest::default()), ["k"]);
    }

    #[test]
    fn compaction_keeps_only_writes_after_the_new_base_and_frees_the_rest() {
        let before = with_writes(3, 1);
        let after = before.compacted(Base { key: "new".into(), through: 2, bytes: 9 });
        let kept: Vec<&str> = after.segments.iter().filter_map(SegmentRef::key).collect();
        assert_eq!(kept, ["s2"]);
        assert_eq!(before.replaced_by(&after), ["s0", "s1"]);
        let legacy = Manifest::legacy(1);
        assert_eq!(legacy.replaced_by(&after), [LEGACY_SNAPSHOT_KEY]);
    }

    #[test]
    fn vectors_round_trip_exactly_in_base64() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Holder {
            #[serde(with = "vector_base64")]
            vector: Vec<f32>,
        }
        let holder = Holder { vector: vec![0.1, -3.25e-7, f32::MAX, 1.0 / 3.0] };
        let json = serde_json::to_string(&holder).unwrap();
        assert!(!json.contains("0.1"), "{json}");
        assert_eq!(serde_json::from_str::<Holder>(&json).unwrap(), holder);
        assert!(serde_json::from_str::<Holder>(r#"{"vector":"AAA="}"#).is_err());
    }

    #[test]
    fn segments_round_trip_and_concatenate() {
        let delete = |seq, id: &str| LoggedWrite {
            seq,
            write: Write::Delete { document_id: id.into(), deleted_at: DateTime::<Utc>::UNIX_EPOCH },
        };
        let mut body = encode(&delete(1, "a")).unwrap();
        body.push_str(&encode(&delete(2, "b")).unwrap());
        assert_eq!(decode(body.as_bytes()).unwrap(), [delete(1, "a"), delete(2, "b")]);
        let error = decode(b"{\"seq\":1}\nnot json\n").unwrap_err().to_string();
        assert!(error.starts_with("segment line 1:"), "{error}");
    }
}
