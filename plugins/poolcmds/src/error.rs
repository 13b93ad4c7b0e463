//! The command library's errors: every command returns plugin-sdk's [`CommandError`] (usage, a
//! read fault with its address and reason, not found, cancelled, failed), and the readers handed
//! to `poollayout`'s walkers report a typed [`poollayout::ReadFault`]; this module converts
//! between the two so no command passes a read failure around as a `String`.

use plugin_sdk::{CommandError, ReadError, ReadStatus};
use poollayout::{FaultKind, ReadFault};

/// A plugin-sdk read error as `poollayout`'s typed fault (the reason kept, the wording the
/// target's own).
pub fn fault(e: &ReadError) -> ReadFault {
    ReadFault {
        address: e.fault_address,
        kind: fault_kind(e.status),
        message: e.to_string(),
    }
}

/// The `poollayout` reason of a read status.
pub fn fault_kind(status: ReadStatus) -> FaultKind {
    match status {
        ReadStatus::NotInDump => FaultKind::NotInDump,
        ReadStatus::PagedOut { .. } => FaultKind::PagedOut,
        ReadStatus::NotMapped => FaultKind::NotMapped,
        _ => FaultKind::Other,
    }
}

/// A `poollayout` read fault as the command's error: a cancel stays a cancel.
pub fn from_fault(f: ReadFault) -> CommandError {
    match f.kind {
        FaultKind::Cancelled => CommandError::Cancelled,
        _ => CommandError::Failed(f.message),
    }
}

/// A `poollayout` decode error as the command's error.
pub fn from_layout(e: poollayout::Error) -> CommandError {
    CommandError::Failed(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_survive_the_conversion() {
        let e = ReadError {
            address: 0x1000,
            length: 8,
            bytes_read: 4,
            fault_address: 0x1004,
            status: ReadStatus::PagedOut {
                pagefile: 0,
                offset: 0x2000,
            },
        };
        let f = fault(&e);
        assert_eq!((f.address, f.kind), (0x1004, FaultKind::PagedOut));
        assert_eq!(f.message, e.to_string());
        let nid = ReadError {
            status: ReadStatus::NotInDump,
            ..e
        };
        assert_eq!(fault(&nid).kind, FaultKind::NotInDump);
        let cancelled = ReadFault {
            kind: FaultKind::Cancelled,
            ..f.clone()
        };
        assert_eq!(from_fault(cancelled), CommandError::Cancelled);
        assert!(matches!(from_fault(f), CommandError::Failed(m) if m.contains("0x1000")));
    }
}
