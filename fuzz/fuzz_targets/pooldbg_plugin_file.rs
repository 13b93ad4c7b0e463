//! The plugin loader's pre-load check (goblin + pooldbg's own ELF/PE/Mach-O checks) on any bytes,
//! as each platform's host would see them: it must answer, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pooldbg::loader::vet::{HostArch, vet};

const HOSTS: [HostArch; 4] = [
    HostArch { format: "ELF", arch: "x86_64" },
    HostArch { format: "ELF", arch: "aarch64" },
    HostArch { format: "PE", arch: "x86_64" },
    HostArch { format: "Mach-O", arch: "aarch64" },
];

fuzz_target!(|data: &[u8]| {
    for host in HOSTS {
        let _ = vet(data, host);
    }
});
