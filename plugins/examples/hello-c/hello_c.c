/*
 * An example pooldbg plugin in C: `!hello-c`.
 *
 * Build (Linux; use -dynamiclib on macOS):
 *   cc -std=c11 -shared -fPIC -I crates/plugin-abi/include \
 *      -o libpooldbg_example_hello_c.so plugins/examples/hello-c/hello_c.c
 * then put the library where pooldbg looks (`pooldbg --plugin-dir DIR plugins`).
 *
 * It reads the target's facts, two batched virtual reads (the kernel image's first bytes and an
 * address the user gives), looks up a symbol, and emits one JSON row. Everything it hands to the
 * host is on its stack or static; the host copies what it keeps.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooldbg_plugin.h"

static const char *read_status_name(uint32_t status) {
    switch (status) {
    case POOLDBG_READ_OK: return "ok";
    case POOLDBG_READ_NOT_IN_DUMP: return "not in dump";
    case POOLDBG_READ_NOT_MAPPED: return "not mapped";
    case POOLDBG_READ_PAGED_OUT: return "paged out";
    default: return "read error";
    }
}

static const char *source_name(uint32_t source) {
    switch (source) {
    case POOLDBG_SOURCE_USER_SYMBOLS: return "user symbols";
    case POOLDBG_SOURCE_EMBEDDED_PROFILE: return "embedded profile";
    case POOLDBG_SOURCE_KDBG: return "kdbg";
    case POOLDBG_SOURCE_GUESSED: return "guessed";
    case POOLDBG_SOURCE_FOUND: return "found without symbols";
    case POOLDBG_SOURCE_NONE: return "none";
    /* A code appended after this plugin was written: it still answered, treat it as a guess. */
    default: return "guessed";
    }
}

static uint32_t fail(const PooldbgHostApi *host, PooldbgHostContext *ctx, const char *message) {
    if (POOLDBG_HAS(host, set_error)) {
        PooldbgStr s = {(const uint8_t *)message, strlen(message)};
        host->set_error(ctx, s);
    }
    return POOLDBG_STATUS_ERROR;
}

static uint32_t hello_c(const PooldbgHostApi *host, PooldbgHostContext *ctx, PooldbgStr args) {
    if (!POOLDBG_HAS(host, target_info) || !POOLDBG_HAS(host, read_virtual) ||
        !POOLDBG_HAS(host, emit_row)) {
        return fail(host, ctx, "this host lacks target_info, read_virtual or emit_row");
    }
    const PooldbgTargetInfo *info = host->target_info(ctx);
    if (info == NULL) {
        return fail(host, ctx, "no target info");
    }

    /* The optional argument: a hexadecimal address to peek at (8 bytes). */
    char arg[64] = {0};
    size_t n = args.len < sizeof(arg) - 1 ? args.len : sizeof(arg) - 1;
    if (n > 0) {
        memcpy(arg, args.ptr, n);
    }
    uint64_t peek = n > 0 ? strtoull(arg, NULL, 16) : info->kernel_base;

    /* One batch, two reads, a status each. */
    uint8_t magic[2] = {0};
    uint64_t value = 0;
    PooldbgReadRequest reqs[2];
    memset(reqs, 0, sizeof(reqs));
    reqs[0].address = info->kernel_base;
    reqs[0].buffer = magic;
    reqs[0].length = sizeof(magic);
    reqs[1].address = peek;
    reqs[1].buffer = (uint8_t *)&value; /* little-endian hosts only: an example */
    reqs[1].length = sizeof(value);
    if (host->read_virtual(ctx, reqs, 2) != POOLDBG_STATUS_OK) {
        return fail(host, ctx, "read_virtual refused the batch");
    }

    PooldbgLookup sym = {0};
    uint32_t found = POOLDBG_HAS(host, symbol_address)
                         ? host->symbol_address(ctx, POOLDBG_STR("nt!PsLoadedModuleList"), &sym)
                         : POOLDBG_STATUS_UNSUPPORTED;

    /* Text that is not ours (the argument as typed) goes into a row only escaped: the host's
     * json_string writes it as a JSON string literal, quotes included (older hosts: null). */
    char args_json[160];
    size_t args_len = 0;
    if (POOLDBG_HAS(host, json_string)) {
        args_len = host->json_string(args, (uint8_t *)args_json, sizeof(args_json));
    }
    if (args_len == 0 || args_len > sizeof(args_json)) {
        memcpy(args_json, "null", 4); /* absent, or too long for this example's buffer */
        args_len = 4;
    }

    char row[768];
    int len = snprintf(
        row, sizeof(row),
        "{\"args\": %.*s, \"build\": %" PRIu32 ", \"pointer_size\": %" PRIu32 ", \"kernel_magic_status\": \"%s\","
        " \"kernel_magic\": \"%c%c\", \"peek\": \"0x%" PRIx64 "\", \"peek_status\": \"%s\","
        " \"peek_value\": \"0x%" PRIx64 "\", \"loaded_module_list\": \"0x%" PRIx64 "\","
        " \"loaded_module_list_source\": \"%s\"}",
        (int)args_len, args_json, info->build, info->pointer_size,
        read_status_name(reqs[0].status),
        reqs[0].status == POOLDBG_READ_OK ? magic[0] : '?',
        reqs[0].status == POOLDBG_READ_OK ? magic[1] : '?', peek,
        read_status_name(reqs[1].status), reqs[1].status == POOLDBG_READ_OK ? value : 0,
        found == POOLDBG_STATUS_OK ? sym.value : 0,
        found == POOLDBG_STATUS_OK ? source_name(sym.source) : "none");
    if (len < 0 || (size_t)len >= sizeof(row)) {
        return fail(host, ctx, "row too long");
    }
    PooldbgStr json = {(const uint8_t *)row, (size_t)len};
    if (reqs[1].status == POOLDBG_READ_PAGED_OUT && POOLDBG_HAS(host, add_warning)) {
        char w[128];
        int wl = snprintf(w, sizeof(w), "0x%" PRIx64 " is paged out (page file %" PRIu32
                          ", offset 0x%" PRIx64 ")", peek, reqs[1].pagefile_number,
                          reqs[1].pagefile_offset);
        if (wl > 0 && (size_t)wl < sizeof(w)) {
            PooldbgStr ws = {(const uint8_t *)w, (size_t)wl};
            host->add_warning(ctx, ws);
        }
    }
    return host->emit_row(ctx, json);
}

static const PooldbgCommandDescriptor COMMANDS[] = {
    {POOLDBG_STR_INIT("hello-c"),
     POOLDBG_STR_INIT("say hello from C: target facts, two reads, a symbol"),
     POOLDBG_STR_INIT("!hello-c [ADDR]"), POOLDBG_STR_INIT("")},
};

static uint32_t run(const PooldbgHostApi *host, PooldbgHostContext *ctx, uint32_t command,
                    PooldbgStr args) {
    switch (command) {
    case 0: return hello_c(host, ctx, args);
    default: return POOLDBG_STATUS_INVALID_ARGUMENT;
    }
}

static const PooldbgPluginDescriptor DESCRIPTOR = {
    POOLDBG_ABI_VERSION,
    sizeof(PooldbgPluginDescriptor),
    sizeof(COMMANDS) / sizeof(COMMANDS[0]),
    sizeof(PooldbgCommandDescriptor),
    POOLDBG_STR_INIT("example-hello-c"),
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
