//! Size probe: a binary that uses the embedded profiles. Compare its size with
//! `size_without_profiles` (both `--release`) to see what the profiles add.

fn main() {
    let n = pooldbg_ntkernel::profile::embedded().len();
    let k = pooldbg_ntkernel::kdbg::Kdbg::from_bytes(0, &[0u8; 0x40], true).is_err();
    println!("{n} profiles, {k}");
}
