//! The `!vm` figures the tests compare with the manifest.

/// The CONTRACT.md `!vm` figures.
pub const CONTRACT: &[&str] = &[
    "physical_pages",
    "available_pages",
    "resident_available_pages",
    "free_system_ptes",
    "modified_pages",
    "nonpaged_pool_pages",
    "nonpaged_pool_max_pages",
    "paged_pool_pages",
    "paged_pool_max_pages",
    "pool_allocation_failures",
    "shared_commit_pages",
    "driver_commit_pages",
    "committed_pages",
    "commit_limit",
    "locked_io_pages",
    "special_pool_pages",
    "page_files",
];

/// The figures only some versions' WinDbg prints (Windows 7 … 11): equal to the manifest, both
/// present or both absent.
pub const VERSIONED: &[&str] = &[
    "nonpaged_pool_nx_pages",
    "modified_pf_pages",
    "modified_no_write_pages",
    "shared_process_pages",
    "paged_pool_commit_pages",
    "mdl_pages",
    "contiguous_pages",
    "nonpaged_pool_commit_pages",
    "boot_commit_pages",
    "pfn_array_commit_pages",
    "small_nonpaged_ptes_commit_pages",
    "slab_allocator_pages",
    "system_page_table_pages",
    "process_locked_file_pages",
    "pagefile_hash_pages",
    "total_private_pages",
    "session_commit_pages",
];
