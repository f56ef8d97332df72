//! The kernel's book of open comms: which exist and for which target. The
//! runtime owns what a widget holds; the kernel knows only that it is open,
//! to answer `comm_info_request` and to pass on only messages for comms that
//! exist (anything else gets a log line and changes nothing).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Open comms by id, shared by the iopub task (which sees them open and close
/// in the runtime's output) and the shell (which routes the frontend's messages).
#[derive(Debug, Clone, Default)]
pub struct CommTable(Arc<Mutex<BTreeMap<String, String>>>);

impl CommTable {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A comm opened, for `target_name`.
    pub fn opened(&self, comm_id: &str, target_name: &str) {
        self.lock()
            .insert(comm_id.to_owned(), target_name.to_owned());
    }

    /// A comm closed (by either side); whether it was open.
    pub fn closed(&self, comm_id: &str) -> bool {
        self.lock().remove(comm_id).is_some()
    }

    /// Whether `comm_id` is open.
    pub fn is_open(&self, comm_id: &str) -> bool {
        self.lock().contains_key(comm_id)
    }

    /// Open comms and their targets, only those of `target_name` if given.
    pub fn list(&self, target_name: Option<&str>) -> BTreeMap<String, String> {
        self.lock()
            .iter()
            .filter(|(_, target)| target_name.is_none_or(|wanted| wanted == target.as_str()))
            .map(|(id, target)| (id.clone(), target.clone()))
            .collect()
    }

    /// Forgets every comm (the runtime that held them is gone).
    pub fn clear(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_open_comms_by_target() {
        let table = CommTable::default();
        table.opened("a", "jupyter.widget");
        table.opened("b", "other");
        assert_eq!(table.list(None).len(), 2);
        assert_eq!(
            table
                .list(Some("jupyter.widget"))
                .keys()
                .collect::<Vec<_>>(),
            ["a"]
        );
        assert!(table.closed("a") && !table.closed("a"));
        assert!(!table.is_open("a") && table.is_open("b"));
    }
}
