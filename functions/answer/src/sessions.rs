//! The answer workflow's conversations: one object per session in answer's own bucket (a
//! directory locally), read by the workflow's `LoadSession` step and extended by its
//! `RecordTurn` step.
//!
//! A turn is added by a conditional put on the object's ETag, retried on conflict, so two
//! turns of one session recorded at once are both kept (docs/decisions/0031-sessions.md).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use seams_contracts::session::{is_session_id, SessionHistory, Turn};
use seams_platform::object_store::{ObjectStore, PutOptions, StoreError};
use seams_platform::tenancy::Tenant;
use seams_platform::ServiceError;
use serde::{Deserialize, Serialize};

/// The turns a session keeps, newest last: what a follow-up can refer back to.
pub const KEPT_TURNS: usize = 20;

/// How often a turn is retried when other turns of its session keep landing first.
const CONFLICT_ATTEMPTS: u32 = 12;

/// Seconds since the Unix epoch, now.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

fn system_clock() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Stored {
    session_id: String,
    created_at: u64,
    /// When the last turn was recorded: the session expires `ttl` after it.
    updated_at: u64,
    /// Every turn recorded, including those no longer kept.
    turn_count: u64,
    turns: Vec<Turn>,
}

pub struct Sessions {
    store: Arc<dyn ObjectStore>,
    ttl: Duration,
    now: Clock,
}

impl Sessions {
    /// Sessions in `store` that expire `ttl` after their last turn.
    pub fn new(store: Arc<dyn ObjectStore>, ttl: Duration) -> Self {
        Self { store, ttl, now: Arc::new(system_clock) }
    }

    /// The same sessions, timed by `now` (tests move it forward).
    pub fn with_clock(self, now: Clock) -> Self {
        Self { now, ..self }
    }

    /// The session's latest turns, oldest first, cut as a history carries them
    /// (`SessionHistory::latest`); `Seams.NotFound` when it is unknown or expired.
    pub async fn load(&self, session_id: &str, tenant: Option<&str>) -> Result<SessionHistory, ServiceError> {
        let key = key(session_id, tenant)?;
        match self.read(&key).await? {
            Some((stored, _)) if !self.expired(&stored) => Ok(history(stored)),
            _ => Err(unknown(session_id)),
        }
    }

    /// Adds `turn`. A `new` session is created by it; any other must exist and be current.
    /// Recording the turn the session already ends with changes nothing, so a retried step
    /// does not add it twice.
    pub async fn record(
        &self,
        session_id: &str,
        tenant: Option<&str>,
        new: bool,
        turn: Turn,
    ) -> Result<SessionHistory, ServiceError> {
        let key = key(session_id, tenant)?;
        for attempt in 0..CONFLICT_ATTEMPTS {
            if attempt > 0 {
                // Another turn landed first: step aside briefly, longer each time.
                tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 7)).await;
            }
            let now = (self.now)();
            let (mut stored, condition) = match self.read(&key).await? {
                None if new => {
                    let stored = Stored {
                        session_id: session_id.to_owned(),
                        created_at: now,
                        updated_at: now,
                        turn_count: 0,
                        turns: vec![],
                    };
                    (stored, PutOptions::if_absent())
                }
                None => return Err(unknown(session_id)),
                Some((stored, _)) if !new && self.expired(&stored) => return Err(unknown(session_id)),
                Some((stored, _)) if stored.turns.last() == Some(&turn) => return Ok(history(stored)),
                Some((stored, etag)) => (stored, PutOptions::if_match(etag)),
            };
            stored.turns.push(turn.clone());
            stored.turn_count += 1;
            stored.updated_at = now;
            let excess = stored.turns.len().saturating_sub(KEPT_TURNS);
            stored.turns.drain(..excess);
            let body = serde_json::to_vec(&stored)
                .map_err(|e| ServiceError::transient(format!("could not encode the session: {e}")))?;
            let options = PutOptions { content_type: Some("application/json".into()), ..condition };
            match self.store.put(&key, Bytes::from(body), options).await {
                Ok(_) => return Ok(history(stored)),
                Err(StoreError::AlreadyExists { .. } | StoreError::PreconditionFailed { .. }) => continue,
                Err(error) => return Err(store_error(error)),
            }
        }
        Err(ServiceError::transient(format!(
            "session {session_id} changed {CONFLICT_ATTEMPTS} times while this turn was recorded"
        )))
    }

    fn expired(&self, stored: &Stored) -> bool {
        (self.now)().saturating_sub(stored.updated_at) > self.ttl.as_secs()
    }

    /// The stored session and its ETag, or `None` when there is none.
    async fn read(&self, key: &str) -> Result<Option<(Stored, String)>, ServiceError> {
        let object = match self.store.get(key).await {
            Ok(object) => object,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(store_error(error)),
        };
        let stored: Stored = serde_json::from_slice(&object.body)
            .map_err(|e| ServiceError::transient(format!("the stored session {key} is unreadable: {e}")))?;
        let etag =
            object.info.etag.ok_or_else(|| ServiceError::transient(format!("the store gave no ETag for {key}")))?;
        Ok(Some((stored, etag)))
    }
}

/// Where a session is stored: under its tenant, so one tenant's id never opens another's.
fn key(session_id: &str, tenant: Option<&str>) -> Result<String, ServiceError> {
    if !is_session_id(session_id) {
        return Err(ServiceError::invalid_input("session_id", seams_contracts::session::SESSION_ID_RULE));
    }
    Ok(match tenant {
        Some(tenant) => {
            let tenant =
                Tenant::new(tenant).map_err(|_| ServiceError::invalid_input("tenant", "not a valid tenant name"))?;
            format!("sessions/tenant={}/{session_id}.json", tenant.as_str())
        }
        None => format!("sessions/untenanted/{session_id}.json"),
    })
}

fn history(stored: Stored) -> SessionHistory {
    SessionHistory::latest(stored.session_id, &stored.turns)
}

fn unknown(session_id: &str) -> ServiceError {
    ServiceError::not_found(format!("no session {session_id}: it is unknown or has expired"))
}

fn store_error(error: StoreError) -> ServiceError {
    ServiceError::new(error.error_name(), format!("the session store: {error}"))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use seams_contracts::infer::InferenceOutput;
    use seams_contracts::session::{HISTORY_CITED, HISTORY_TEXT_CHARS, HISTORY_TURNS};
    use seams_contracts::ErrorName;
    use seams_platform::object_store::FsObjectStore;

    use super::*;

    fn turn(question: &str) -> Turn {
        Turn {
            question: question.into(),
            standalone_question: question.into(),
            answer: InferenceOutput::Text(format!("about {question}")),
            cited: vec!["refunds:1:0".into()],
        }
    }

    struct Fixture {
        sessions: Sessions,
        clock: Arc<AtomicU64>,
        dir: tempfile::TempDir,
    }

    impl Fixture {
        /// The questions of the turns the store holds for untenanted session `id`.
        fn stored_questions(&self, id: &str) -> Vec<String> {
            let body = std::fs::read(self.dir.path().join(format!("sessions/untenanted/{id}.json"))).unwrap();
            let stored: Stored = serde_json::from_slice(&body).unwrap();
            stored.turns.into_iter().map(|t| t.question).collect()
        }
    }

    fn fixture(ttl_seconds: u64) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(AtomicU64::new(1_000_000));
        let now = clock.clone();
        let sessions = Sessions::new(Arc::new(FsObjectStore::new(dir.path())), Duration::from_secs(ttl_seconds))
            .with_clock(Arc::new(move || now.load(Ordering::SeqCst)));
        Fixture { sessions, clock, dir }
    }

    #[tokio::test]
    async fn turns_are_kept_in_order_and_a_retried_turn_once() {
        let f = fixture(60);
        f.sessions.record("s1", None, true, turn("refunds")).await.unwrap();
        f.sessions.record("s1", None, false, turn("digital")).await.unwrap();
        f.sessions.record("s1", None, false, turn("digital")).await.unwrap();
        let loaded = f.sessions.load("s1", None).await.unwrap();
        let questions: Vec<&str> = loaded.turns.iter().map(|t| t.question.as_str()).collect();
        assert_eq!(questions, ["refunds", "digital"]);
    }

    #[tokio::test]
    async fn unknown_expired_and_other_tenants_sessions_are_not_found() {
        let f = fixture(60);
        assert_eq!(f.sessions.load("nope", None).await.unwrap_err().name, ErrorName::NotFound);
        let continued = f.sessions.record("nope", None, false, turn("x")).await.unwrap_err();
        assert_eq!(continued.name, ErrorName::NotFound, "only a new session may be created");
        f.sessions.record("s1", Some("acme"), true, turn("refunds")).await.unwrap();
        assert_eq!(f.sessions.load("s1", Some("globex")).await.unwrap_err().name, ErrorName::NotFound);
        assert_eq!(f.sessions.load("s1", None).await.unwrap_err().name, ErrorName::NotFound);
        f.clock.fetch_add(60, Ordering::SeqCst);
        assert_eq!(f.sessions.load("s1", Some("acme")).await.unwrap().turns.len(), 1, "60 s is within the TTL");
        f.clock.fetch_add(1, Ordering::SeqCst);
        assert_eq!(f.sessions.load("s1", Some("acme")).await.unwrap_err().name, ErrorName::NotFound);
        let late = f.sessions.record("s1", Some("acme"), false, turn("late")).await.unwrap_err();
        assert_eq!(late.name, ErrorName::NotFound);
    }

    #[tokio::test]
    async fn ids_that_are_not_key_safe_are_refused() {
        let f = fixture(60);
        for id in ["../other", "a/b", ""] {
            assert_eq!(f.sessions.load(id, None).await.unwrap_err().field.as_deref(), Some("session_id"));
        }
        let error = f.sessions.load("s1", Some("a/..")).await.unwrap_err();
        assert_eq!(error.field.as_deref(), Some("tenant"));
    }

    #[tokio::test]
    async fn only_the_latest_turns_are_kept() {
        let f = fixture(60);
        f.sessions.record("s1", None, true, turn("q0")).await.unwrap();
        for i in 1..=KEPT_TURNS {
            f.sessions.record("s1", None, false, turn(&format!("q{i}"))).await.unwrap();
        }
        let stored = f.stored_questions("s1");
        assert_eq!(stored.len(), KEPT_TURNS);
        assert_eq!(stored[0], "q1");
        let loaded: Vec<String> =
            f.sessions.load("s1", None).await.unwrap().turns.into_iter().map(|t| t.question).collect();
        assert_eq!(loaded, stored[KEPT_TURNS - HISTORY_TURNS..], "a history holds the latest turns");
    }

    #[tokio::test]
    async fn a_history_of_the_longest_turns_fits_a_workflow_state_beside_its_passages() {
        let f = fixture(60);
        // 8,192 tokens of answer (infer's most) and long questions, in three-byte characters.
        let long = |c: char, n: usize| std::iter::repeat_n(c, n).collect::<String>();
        let heavy = |i: usize| Turn {
            question: long('問', 20_000),
            standalone_question: long('問', 20_000),
            answer: InferenceOutput::Text(format!("{i}{}", long('答', 40_000))),
            cited: (0..100).map(|c| format!("document-{c:0>100}:1:{c}")).collect(),
        };
        f.sessions.record("s1", None, true, heavy(0)).await.unwrap();
        for i in 1..KEPT_TURNS {
            let recorded = f.sessions.record("s1", None, false, heavy(i)).await.unwrap();
            assert!(serde_json::to_vec(&recorded).unwrap().len() <= 64 * 1024, "recording turn {i} answers too much");
        }
        let loaded = f.sessions.load("s1", None).await.unwrap();
        assert!(serde_json::to_vec(&loaded).unwrap().len() <= 64 * 1024, "a quarter of a state at most");
        let newest = loaded.turns.last().unwrap();
        let InferenceOutput::Text(answer) = &newest.answer else { panic!("a text answer") };
        assert!(answer.starts_with(&format!("{}答", KEPT_TURNS - 1)) && answer.chars().count() == HISTORY_TEXT_CHARS);
        assert_eq!((newest.question.chars().count(), newest.cited.len()), (HISTORY_TEXT_CHARS, HISTORY_CITED));
        assert_eq!(f.stored_questions("s1").len(), KEPT_TURNS, "the store keeps the turns whole");
    }

    #[tokio::test]
    async fn concurrent_turns_of_one_session_are_all_kept() {
        let f = Arc::new(fixture(60));
        f.sessions.record("s1", None, true, turn("first")).await.unwrap();
        let writers = (0..8).map(|i| {
            let f = f.clone();
            tokio::spawn(async move { f.sessions.record("s1", None, false, turn(&format!("t{i}"))).await })
        });
        for writer in writers.collect::<Vec<_>>() {
            writer.await.unwrap().unwrap();
        }
        let stored = f.stored_questions("s1");
        assert_eq!(stored.len(), 9, "{stored:?}");
    }
}
