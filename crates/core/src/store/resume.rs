//! The one home of the `--on-exists` and resume rule: what a rerun does with
//! an output the store already holds. The planner asks [`before`] for every
//! entry, the I/O stage asks [`answered`] when a conditional request comes
//! back and [`after_download`] when a download's name settles only once its
//! body is in.

use super::{Freshness, OutputStore, Stale};
use crate::config::OnExists;
use crate::item::InputId;
use crate::item::{Entry, Record, Status};
use crate::naming::{self, Names, Settles};
use pixmill_base::error::{ErrorClass, ItemError};

/// The reason of a skip by the up-to-date rule.
pub(crate) const UP_TO_DATE: &str = "up to date";

/// The rule, applied to what the store holds for `entry`: a record when the
/// entry is not to be done; otherwise `entry` learns why it is redone, or
/// what to ask the server.
pub(crate) fn rule(
    store: &dyn OutputStore,
    entry: &mut Entry,
    on_exists: OnExists,
) -> Option<Record> {
    match on_exists {
        OnExists::Overwrite => return None,
        OnExists::Skip | OnExists::Fail if !store.exists(entry) => return None,
        OnExists::Fail => {
            return Some(Record::new(entry, Status::Failed).fail(ItemError::new(
                ErrorClass::Exists,
                format!(
                    "output {} exists (--on-exists fail)",
                    entry.output.display()
                ),
            )))
        }
        OnExists::Skip => {
            return Some(Record::new(entry, Status::Skipped).skip("output exists"));
        }
        OnExists::Update => {}
    }
    match store.check(entry) {
        Freshness::Missing => None,
        Freshness::UpToDate => Some(Record::new(entry, Status::Skipped).skip(UP_TO_DATE)),
        Freshness::Revalidate(validators) => {
            entry.revalidate = Some(validators);
            None
        }
        Freshness::Stale(stale) => {
            entry.redo = Some(stale.reason());
            None
        }
    }
}

/// The rule at planning time. A download whose extension the server will
/// settle is looked for under each name it may have settled to on an
/// earlier run (the name that run recorded first).
pub(crate) fn before(
    store: &dyn OutputStore,
    names: &Names,
    entry: &mut Entry,
    on_exists: OnExists,
) -> Option<Record> {
    if entry.settles == Settles::Nothing {
        return rule(store, entry, on_exists);
    }
    if entry.settles == Settles::Name {
        if let Some(named) = store.recall_name(entry) {
            let stem = std::mem::replace(&mut entry.output, named);
            if store.exists(entry) && claim_recalled(names, entry) {
                // Up to date, or a conditional request with its validators.
                return rule(store, entry, on_exists);
            }
            entry.output = stem;
        }
    }
    let stem = entry.output.clone();
    for candidate in naming::settled_candidates(&stem) {
        entry.output = candidate;
        if store.exists(entry) {
            return rule(store, entry, on_exists);
        }
    }
    entry.output = stem;
    None
}

/// Claims a recalled name for `entry`'s key, as an earlier run did; false
/// when another input of this run holds it.
fn claim_recalled(names: &Names, entry: &Entry) -> bool {
    names
        .claim(&entry.output, &entry.key, false)
        .is_ok_and(|claimed| claimed == entry.output)
}

/// What the server's answer to a download means for the rule: `Err` with
/// the skip reason when it said 304 Not Modified (the output is up to
/// date); otherwise `Ok`, with why the output is redone when it was asked
/// to revalidate (the input changed).
pub(crate) fn answered(
    entry: &Entry,
    not_modified: bool,
) -> Result<Option<&'static str>, &'static str> {
    if not_modified {
        return Err(UP_TO_DATE);
    }
    Ok(entry
        .revalidate
        .is_some()
        .then(|| Stale::InputChanged.reason()))
}

/// The rule for an output found only once its download is done: the same
/// version (the validators the server just sent) is up to date.
pub(crate) fn after_download(
    store: &dyn OutputStore,
    entry: &mut Entry,
    on_exists: OnExists,
) -> Option<Record> {
    let refused = rule(store, entry, on_exists);
    match entry.revalidate.take() {
        Some(known) if InputId::Url(known.clone()) == entry.provenance.input => {
            Some(Record::new(entry, Status::Skipped).skip(UP_TO_DATE))
        }
        Some(_) => {
            entry.redo = Some(Stale::InputChanged.reason());
            None
        }
        None => refused,
    }
}
