//! The objects lopdf loads from a PDF's cross-reference entries, bounded. lopdf lists every
//! entry a cross-reference stream names, one that takes no bytes (`/W [0 0 0]`) as readily
//! as any, then parses the object at each entry's offset and holds every copy until it has
//! them all: a 426-byte PDF naming 10 million entries at one offset took 53 s and 7.4 GB.

use std::cell::RefCell;
use std::collections::HashSet;

use pdf_extract::{Document, LoadOptions, Object, ObjectId};

use super::pdf_names::{integer, integers, names};

/// Entries the file's cross-reference tables may name, all together: every `/Size` and every
/// count of an `/Index`, wherever they stand (a file updated twice names its objects about
/// four times). Real files hold up to a few hundred thousand objects.
pub const MAX_ENTRIES: u64 = 1 << 22;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("its cross-reference tables name more than {MAX_ENTRIES} objects")]
pub struct TooManyEntries;

/// Refuses a file whose names would have lopdf list more than [`MAX_ENTRIES`], read from its
/// bytes: lopdf lists them before anything else can read a dictionary.
pub fn check_entries(bytes: &[u8]) -> Result<(), TooManyEntries> {
    let mut entries = 0u64;
    for (name, after) in names(bytes) {
        let named = match name.as_slice() {
            b"Size" => integer(bytes, after).map_or(0, |(size, _)| size),
            b"Index" => {
                integers(bytes, after).iter().skip(1).step_by(2).fold(0, |sum: u64, count| sum.saturating_add(*count))
            }
            _ => continue,
        };
        entries = entries.saturating_add(named);
        if entries > MAX_ENTRIES {
            return Err(TooManyEntries);
        }
    }
    Ok(())
}

thread_local! {
    /// The objects the load under way on this thread has kept ([`load`]).
    static KEPT: RefCell<HashSet<ObjectId>> = RefCell::new(HashSet::new());
}

/// Loads `bytes` as lopdf does, but keeps only the first copy of each object, so entries
/// naming one offset many times cost the time to parse it again, not the memory to hold it.
/// lopdf's hook for this is a plain function, so what it has kept lives beside it. (lopdf
/// does not call it for encrypted files.)
pub fn load(bytes: &[u8]) -> Result<Document, pdf_extract::Error> {
    KEPT.with_borrow_mut(HashSet::clear);
    let loaded = Document::load_mem_with_options(bytes, LoadOptions::with_filter(first_copy));
    KEPT.with_borrow_mut(|kept| *kept = HashSet::new());
    loaded
}

/// lopdf's load filter. For an object read at an offset lopdf keeps `object` and only looks
/// whether this gives `None`; for one read from an object stream it keeps what this gives,
/// and those are never streams. So a stream gives a placeholder, anything else a copy.
fn first_copy(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    if !KEPT.with_borrow_mut(|kept| kept.insert(id)) {
        return None;
    }
    match object {
        Object::Stream(_) => Some((id, Object::Null)),
        other => Some((id, other.clone())),
    }
}

#[cfg(test)]
mod tests;
