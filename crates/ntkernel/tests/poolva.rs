//! The per-build facts of `pooldbg_ntkernel::poolva` against every real ISF file: which pool-range globals
//! each build has, and the `_MI_ASSIGNED_REGION_TYPES` values behind the `SystemVaRegions` index.

use pooldbg_ntkernel::poolva::assigned_region_indexes;
use testdata::isf::{Isf, index};

#[test]
fn region_indexes_and_globals_match_every_isf() {
    let Some(entries) = index() else {
        return; // no shared data here (fails under CI=true inside testdata)
    };
    assert!(entries.len() >= 31);
    for e in &entries {
        let isf = Isf::load(&e.path).expect("ISF loads");
        let build = e.build();
        let has = |n: &str| isf.symbol_rva(n).is_some();
        let en = &isf.json()["enums"]["_MI_ASSIGNED_REGION_TYPES"]["constants"];
        match build {
            7601 => {
                assert!(
                    has("MmNonPagedPoolStart") && has("MiNonPagedPoolEnd") && has("MmPagedPoolEnd")
                );
                assert!(!has("MmPagedPoolStart") && !has("MiState"), "{}", e.version);
            }
            9600 => {
                assert!(
                    has("MiPagedPoolStart") && has("MmPagedPoolEnd"),
                    "{}",
                    e.version
                );
                assert!(
                    !has("MmNonPagedPoolStart") && !has("MiNonPagedPoolEnd") && !has("MiState")
                );
            }
            _ => {
                let ((np, pp), assumed) = assigned_region_indexes(build).expect("a 1607+ build");
                assert!(!assumed, "{}", e.version);
                assert_eq!(
                    en["AssignedRegionNonPagedPool"].as_u64(),
                    Some(np),
                    "{}",
                    e.version
                );
                assert_eq!(
                    en["AssignedRegionPagedPool"].as_u64(),
                    Some(pp),
                    "{}",
                    e.version
                );
                assert!(has("MiState") && !has("MmPagedPoolEnd"), "{}", e.version);
                let vs = isf.field("_MI_SYSTEM_INFORMATION", "Vs").expect("Vs");
                let regions = isf
                    .field("_MI_VISIBLE_STATE", "SystemVaRegions")
                    .expect("regions");
                assert!(vs.offset > 0 && regions.offset > 0);
                assert_eq!(isf.type_size("_MI_SYSTEM_VA_ASSIGNMENT"), Some(16));
            }
        }
    }
}
