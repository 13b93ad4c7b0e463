/*
 * pooldbg_plugin.h - the C ABI between pooldbg and its command plugins, version 1.
 *
 * This header mirrors the Rust crate `plugin-abi` (crates/plugin-abi/src/lib.rs) field for field;
 * the crate's tests compile it and check every size, offset and constant against the Rust types.
 * Read the crate's documentation for the rules; in brief:
 *
 *  - A plugin exports `const PooldbgPluginDescriptor *pooldbg_plugin_v1(void)`. The descriptor and
 *    everything it points to stay valid while the library is loaded (pooldbg never unloads it).
 *  - The host owns all memory that crosses the boundary: strings it hands out are valid until `run`
 *    returns; strings and buffers a plugin hands in are only used during the call.
 *  - PooldbgHostApi only grows (entries are appended): check `struct_size` before using an entry
 *    that was not in version 1, and treat a NULL entry as "not provided".
 *  - Strings are UTF-8, pointer + length, not NUL-terminated.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef POOLDBG_PLUGIN_H
#define POOLDBG_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define POOLDBG_ABI_VERSION 1u
#define POOLDBG_ENTRY_POINT "pooldbg_plugin_v1"

/* Status codes. */
#define POOLDBG_STATUS_OK 0u
#define POOLDBG_STATUS_ERROR 1u
#define POOLDBG_STATUS_NOT_FOUND 2u
#define POOLDBG_STATUS_CANCELLED 3u
#define POOLDBG_STATUS_INVALID_ARGUMENT 4u
#define POOLDBG_STATUS_INVALID_JSON 5u
#define POOLDBG_STATUS_UNSUPPORTED 6u

/* PooldbgReadRequest.status */
#define POOLDBG_READ_OK 0u
#define POOLDBG_READ_NOT_IN_DUMP 1u
#define POOLDBG_READ_NOT_MAPPED 2u
#define POOLDBG_READ_PAGED_OUT 3u
#define POOLDBG_READ_ERROR 4u

/* PooldbgLookup.source: which source answered. Codes are only appended: treat a code you do not
 * know as POOLDBG_SOURCE_GUESSED (it still answered), never as "not found". */
#define POOLDBG_SOURCE_NONE 0u
#define POOLDBG_SOURCE_USER_SYMBOLS 1u
#define POOLDBG_SOURCE_EMBEDDED_PROFILE 2u
#define POOLDBG_SOURCE_KDBG 3u
#define POOLDBG_SOURCE_GUESSED 4u
/* Appended in ABI 1: found without symbols (located by a search of the dump's data, validated). */
#define POOLDBG_SOURCE_FOUND 5u

/* PooldbgTargetInfo.arch */
#define POOLDBG_ARCH_UNKNOWN 0u
#define POOLDBG_ARCH_X86 1u
#define POOLDBG_ARCH_X86_PAE 2u
#define POOLDBG_ARCH_X64 3u
#define POOLDBG_ARCH_ARM64 4u

/* Log levels. */
#define POOLDBG_LOG_ERROR 1u
#define POOLDBG_LOG_WARN 2u
#define POOLDBG_LOG_INFO 3u
#define POOLDBG_LOG_DEBUG 4u

/* A borrowed UTF-8 string; ptr may be NULL only when len is 0. */
typedef struct PooldbgStr {
    const uint8_t *ptr;
    size_t len;
} PooldbgStr;

/* Opaque per-command context of the host. */
typedef struct PooldbgHostContext PooldbgHostContext;

struct PooldbgHostApi;

typedef struct PooldbgCommandDescriptor {
    PooldbgStr name;    /* without '!', e.g. "poolused" */
    PooldbgStr summary; /* one line */
    PooldbgStr usage;   /* e.g. "!poolused [FLAGS] [TAG]" */
    PooldbgStr columns; /* appended: row columns in order, comma-separated; empty: none declared.
                           A plugin built without it (command_size 3 * sizeof(PooldbgStr)) loads. */
} PooldbgCommandDescriptor;

/* Runs command number `command` with the raw argument string; returns a POOLDBG_STATUS_* code. */
typedef uint32_t (*PooldbgRunFn)(const struct PooldbgHostApi *host, PooldbgHostContext *ctx,
                                 uint32_t command, PooldbgStr args);

typedef struct PooldbgPluginDescriptor {
    uint32_t abi_version;  /* POOLDBG_ABI_VERSION */
    uint32_t struct_size;  /* sizeof(PooldbgPluginDescriptor) */
    uint32_t command_count;
    uint32_t command_size; /* sizeof(PooldbgCommandDescriptor) */
    PooldbgStr name;
    PooldbgStr version;
    const PooldbgCommandDescriptor *commands;
    PooldbgRunFn run;
} PooldbgPluginDescriptor;

typedef const PooldbgPluginDescriptor *(*PooldbgEntryFn)(void);

typedef struct PooldbgReadRequest {
    uint64_t address;         /* in */
    uint8_t *buffer;          /* in: `length` writable bytes */
    size_t length;            /* in */
    size_t bytes_read;        /* out: bytes read from the start */
    uint32_t status;          /* out: POOLDBG_READ_* for the first byte not read */
    uint32_t pagefile_number; /* out, for POOLDBG_READ_PAGED_OUT */
    uint64_t pagefile_offset; /* out, for POOLDBG_READ_PAGED_OUT */
    uint64_t fault_address;   /* out: first byte not read */
} PooldbgReadRequest;

typedef struct PooldbgLookup {
    uint64_t value;        /* address, size or offset in bytes */
    uint32_t source;       /* POOLDBG_SOURCE_* */
    uint32_t bit_position; /* bit fields: lowest bit */
    uint32_t bit_length;   /* bit fields: length; 0 otherwise */
    uint32_t reserved;
} PooldbgLookup;

typedef struct PooldbgTargetInfo {
    uint32_t struct_size;
    uint32_t arch;         /* POOLDBG_ARCH_* */
    uint32_t build;        /* e.g. 19041; 0 unknown */
    uint32_t pointer_size; /* 4 or 8 */
    uint32_t processors;   /* 0 unknown */
    uint32_t reserved;
    uint64_t kernel_base;  /* 0 unknown */
    PooldbgStr version;    /* "10.0.19041" */
    PooldbgStr dump_type;  /* "full", "bitmap kernel", "triage", "raw", ... */
} PooldbgTargetInfo;

typedef struct PooldbgTagInfo {
    PooldbgStr binary;
    PooldbgStr description;
    PooldbgStr source;
} PooldbgTagInfo;

typedef uint32_t (*PooldbgReadFn)(PooldbgHostContext *ctx, PooldbgReadRequest *requests,
                                  size_t count);
typedef uint32_t (*PooldbgLookupFn)(PooldbgHostContext *ctx, PooldbgStr name, PooldbgLookup *out);
typedef uint32_t (*PooldbgFieldOffsetFn)(PooldbgHostContext *ctx, PooldbgStr type_name,
                                         PooldbgStr field, PooldbgLookup *out);
typedef const PooldbgTargetInfo *(*PooldbgTargetInfoFn)(PooldbgHostContext *ctx);
/* `tag`: the four bytes as in memory, read little-endian ('Proc' == 0x636f7250). */
typedef uint32_t (*PooldbgPoolTagFn)(PooldbgHostContext *ctx, uint32_t tag, PooldbgTagInfo *out);
typedef void (*PooldbgLogFn)(PooldbgHostContext *ctx, uint32_t level, PooldbgStr message);
typedef uint32_t (*PooldbgIsCancelledFn)(PooldbgHostContext *ctx);
typedef uint32_t (*PooldbgJsonFn)(PooldbgHostContext *ctx, PooldbgStr json);
typedef void (*PooldbgMessageFn)(PooldbgHostContext *ctx, PooldbgStr message);

/* Appended after the first version (check struct_size, or use POOLDBG_HAS). */

/* Progress of a long command: `done` of `total` units (total 0: unknown) of the work named by
 * `label` (copied). The host may draw a bar or ignore it. Callable from any thread. */
typedef void (*PooldbgProgressFn)(PooldbgHostContext *ctx, uint64_t done, uint64_t total,
                                  PooldbgStr label);

/* One loaded driver image holding a tag's bytes; host-owned, valid until `run` returns. */
typedef struct PooldbgImageHit {
    PooldbgStr module; /* e.g. "ntfs.sys" */
    uint64_t hits;     /* occurrences of the tag (plain or with the protected bit) */
} PooldbgImageHit;

/* Which loaded driver images contain `tag` (bytes as in memory, read little-endian)? Sets *hits to
 * a host-owned array (most hits first) and *count to its length. POOLDBG_STATUS_OK (count may be
 * 0), POOLDBG_STATUS_NOT_FOUND (no loaded-module list), POOLDBG_STATUS_INVALID_ARGUMENT (null
 * out-pointer, or a tag with a zero byte or one repeated byte), POOLDBG_STATUS_CANCELLED. */
typedef uint32_t (*PooldbgFindTagInImagesFn)(PooldbgHostContext *ctx, uint32_t tag,
                                             const PooldbgImageHit **hits, size_t *count);

/* Writes `text` as one JSON string literal, quotes included, into `out` (no NUL added): `"`, `\`
 * and U+0000..U+001F are escaped as JSON requires; bytes that are not valid UTF-8 become U+FFFD.
 * Returns the bytes the whole literal takes (>= 2) and writes only if that is <= `capacity` (pass
 * 0 to learn the size, as with snprintf); returns 0 for a null `text.ptr` with a non-zero length.
 * No context: callable from any thread. Use it for every text you put in a row. */
typedef size_t (*PooldbgJsonStringFn)(PooldbgStr text, uint8_t *out, size_t capacity);

/* One stretch of present pages: `len` bytes from `va`, both page-aligned. */
typedef struct PooldbgPageRun {
    uint64_t va;
    uint64_t len;
} PooldbgPageRun;

/* How the 4 KiB pages a present_pages call walked were classified (each page once). */
typedef struct PooldbgPageCounts {
    uint64_t valid;             /* valid 4 KiB PTE */
    uint64_t transition;        /* transition PTE: in RAM, read as WinDbg does */
    uint64_t large;             /* inside a 2 MiB / 4 MiB / 1 GiB page */
    uint64_t paged_out;         /* in a paging file (PTE or a table above) */
    uint64_t demand_zero;
    uint64_t prototype;
    uint64_t absent;            /* a zero entry at some level */
    uint64_t table_not_in_dump; /* under a page table the dump lacks */
    uint64_t bad;               /* under a bad entry or a loop, or not canonical */
} PooldbgPageCounts;

/* The present pages of kernel VA [start, end) from the page tables: up to `capacity` runs at
 * `runs` (address order, merged), *count runs written, *counts the classification of the pages
 * walked, *next where the walk stopped (end when complete; call again from it). POOLDBG_STATUS_OK,
 * POOLDBG_STATUS_UNSUPPORTED (no page tables: read page by page), POOLDBG_STATUS_CANCELLED,
 * POOLDBG_STATUS_INVALID_ARGUMENT. */
typedef uint32_t (*PooldbgPresentPagesFn)(PooldbgHostContext *ctx, uint64_t start, uint64_t end,
                                          PooldbgPageRun *runs, size_t capacity, size_t *count,
                                          PooldbgPageCounts *counts, uint64_t *next);

/* The host's function table; entries are only appended. */
typedef struct PooldbgHostApi {
    uint32_t struct_size;
    uint32_t abi_version;
    PooldbgReadFn read_physical;
    PooldbgReadFn read_virtual;
    PooldbgLookupFn symbol_address;
    PooldbgLookupFn type_size;
    PooldbgFieldOffsetFn field_offset;
    PooldbgTargetInfoFn target_info;
    PooldbgPoolTagFn pool_tag;
    PooldbgLogFn log;
    PooldbgIsCancelledFn is_cancelled;
    PooldbgJsonFn emit_row;     /* one row: a JSON object */
    PooldbgJsonFn set_summary;  /* a JSON value */
    PooldbgMessageFn add_warning;
    PooldbgMessageFn set_error; /* the command's error text */
    /* Appended after the first version: check struct_size (POOLDBG_HAS) before use. */
    PooldbgProgressFn progress;
    PooldbgFindTagInImagesFn find_tag_in_images;
    /* One line of the command's own text layout (WinDbg's): printed at once in text mode,
       dropped by machine formats; the host copies it. Any thread; order of calls kept. */
    PooldbgMessageFn emit_text;
    /* Escapes a text as a JSON string literal (PooldbgJsonStringFn). */
    PooldbgJsonStringFn json_string;
    /* The present pages of a virtual range, from the page tables. */
    PooldbgPresentPagesFn present_pages;
} PooldbgHostApi;

/* struct_size of the first version's table (13 entries): no progress, no find_tag_in_images. */
#define POOLDBG_HOST_API_V1_SIZE ((uint32_t)offsetof(PooldbgHostApi, progress))

/* A PooldbgStr from a string literal, as an expression (C99 compound literal; not C++). */
#define POOLDBG_STR(literal) ((PooldbgStr){(const uint8_t *)(literal), sizeof(literal) - 1})

/* The same as a brace initializer, for static tables (descriptors, command lists). */
#define POOLDBG_STR_INIT(literal) {(const uint8_t *)(literal), sizeof(literal) - 1}

/* Does the host table have `field`? (NULL host, short table or NULL entry: no.) */
#define POOLDBG_HAS(host, field)                                                                   \
    ((host) != NULL &&                                                                             \
     (host)->struct_size >= offsetof(PooldbgHostApi, field) + sizeof((host)->field) &&            \
     (host)->field != NULL)

#ifdef __cplusplus
}
#endif

#endif /* POOLDBG_PLUGIN_H */
