/*
 * cinfo.c - an outside pooldbg plugin in C, built from the shipped header alone:
 *
 *   cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -I PATH/TO/pooldbg_plugin.h/.. \
 *      -o libpooldbg_cinfo.so cinfo.c
 *
 * `!cinfo [TEXT]` prints one row: the target's version, dump type, build and kernel base, the first
 * two bytes of the kernel image ("MZ") read through a batched virtual read, a pool tag lookup for
 * "Proc", and TEXT given back. Every text that comes from outside the plugin (the argument, the
 * host's strings) goes through the host's `json_string` before it is put in a row, so a quote or a
 * backslash in it cannot break the JSON. `cargo xtask outside` builds this file and checks its row
 * against the testkit dump's manifest.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "pooldbg_plugin.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const PooldbgCommandDescriptor COMMANDS[] = {
    {POOLDBG_STR_INIT("cinfo"), POOLDBG_STR_INIT("the target as a C plugin sees it"),
     POOLDBG_STR_INIT("!cinfo [TEXT]"),
     POOLDBG_STR_INIT("version,dump_type,build,kernel_base,image_magic,tag_owner,text")},
};

/* An error text for the command (the host prints it); returns the status to return. */
static uint32_t fail(const PooldbgHostApi *host, PooldbgHostContext *ctx, const char *message) {
    if (POOLDBG_HAS(host, set_error)) {
        PooldbgStr m = {(const uint8_t *)message, strlen(message)};
        host->set_error(ctx, m);
    }
    return POOLDBG_STATUS_ERROR;
}

/* A growing row buffer. */
typedef struct Row {
    char buf[8192];
    size_t len;
    int overflow;
} Row;

static void put(Row *row, const char *text) {
    size_t n = strlen(text);
    if (row->overflow || row->len + n >= sizeof(row->buf)) {
        row->overflow = 1;
        return;
    }
    memcpy(row->buf + row->len, text, n);
    row->len += n;
}

/* `"key": ` followed by `text` escaped as a JSON string literal by the host. */
static void put_string(const PooldbgHostApi *host, Row *row, const char *key, PooldbgStr text) {
    put(row, "\"");
    put(row, key);
    put(row, "\": ");
    if (row->overflow) {
        return;
    }
    size_t room = sizeof(row->buf) - row->len;
    size_t need = host->json_string(text, (uint8_t *)row->buf + row->len, room);
    if (need == 0 || need > room) { /* 0: a null pointer with a length; > room: too long */
        row->overflow = 1;
        return;
    }
    row->len += need;
}

static uint32_t run(const PooldbgHostApi *host, PooldbgHostContext *ctx, uint32_t command,
                    PooldbgStr args) {
    (void)command;
    if (!POOLDBG_HAS(host, target_info) || !POOLDBG_HAS(host, read_virtual) ||
        !POOLDBG_HAS(host, emit_row) || !POOLDBG_HAS(host, json_string)) {
        return fail(host, ctx, "this pooldbg is too old for !cinfo: no json_string entry");
    }
    const PooldbgTargetInfo *info = host->target_info(ctx);
    if (info == NULL) {
        return fail(host, ctx, "the host gave no target information");
    }

    /* The kernel image's first two bytes, one request of a batch. */
    uint8_t magic[2] = {0, 0};
    PooldbgReadRequest req;
    memset(&req, 0, sizeof req);
    req.address = info->kernel_base;
    req.buffer = magic;
    req.length = sizeof magic;
    host->read_virtual(ctx, &req, 1);
    char magic_text[64];
    if (req.status == POOLDBG_READ_OK && req.bytes_read == sizeof magic) {
        snprintf(magic_text, sizeof magic_text, "%c%c", magic[0], magic[1]);
    } else {
        snprintf(magic_text, sizeof magic_text, "unreadable (status %" PRIu32 ")", req.status);
    }

    /* Who owns 'Proc' ('Proc' read little-endian), as the host's tag database says. */
    PooldbgTagInfo tag;
    memset(&tag, 0, sizeof tag);
    PooldbgStr owner = POOLDBG_STR("");
    if (POOLDBG_HAS(host, pool_tag) &&
        host->pool_tag(ctx, 0x636f7250u, &tag) == POOLDBG_STATUS_OK) {
        owner = tag.binary;
    }

    Row row;
    row.len = 0;
    row.overflow = 0;
    char number[96];
    put(&row, "{");
    put_string(host, &row, "version", info->version);
    put(&row, ", ");
    put_string(host, &row, "dump_type", info->dump_type);
    snprintf(number, sizeof number, ", \"build\": %" PRIu32 ", \"kernel_base\": \"0x%" PRIx64 "\", ",
             info->build, info->kernel_base);
    put(&row, number);
    PooldbgStr magic_str = {(const uint8_t *)magic_text, strlen(magic_text)};
    put_string(host, &row, "image_magic", magic_str);
    put(&row, ", ");
    put_string(host, &row, "tag_owner", owner);
    put(&row, ", ");
    put_string(host, &row, "text", args);
    put(&row, "}");
    if (row.overflow) {
        return fail(host, ctx, "!cinfo: the row does not fit in 8 KiB (TEXT too long?)");
    }
    PooldbgStr json = {(const uint8_t *)row.buf, row.len};
    /* POOLDBG_STATUS_INVALID_JSON would mean a bug here: the command fails whatever we return. */
    return host->emit_row(ctx, json);
}

static const PooldbgPluginDescriptor DESCRIPTOR = {
    POOLDBG_ABI_VERSION,
    sizeof(PooldbgPluginDescriptor),
    sizeof COMMANDS / sizeof COMMANDS[0],
    sizeof(PooldbgCommandDescriptor),
    POOLDBG_STR_INIT("cinfo"),
    POOLDBG_STR_INIT("0.1.0"),
    COMMANDS,
    run,
};

#if defined(_WIN32)
__declspec(dllexport)
#else
__attribute__((visibility("default")))
#endif
const PooldbgPluginDescriptor *pooldbg_plugin_v1(void) {
    return &DESCRIPTOR;
}
