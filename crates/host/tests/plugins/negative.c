/*
 * Test plugins for the host's negative tests, built by tests/plugins.rs with the system C
 * compiler into temporary folders (never into target/<profile>/, where pooldbg would find them).
 *
 * One source, varied with -D:
 *   PLUGIN_NAME, COMMAND_NAME   the descriptor's names (two builds claiming one command)
 *   DESCRIPTOR_ABI              the descriptor's abi_version (a wrong ABI version)
 *   ENTRY_NAME                  the exported function (pooldbg_plugin_v2: built for ABI 2;
 *                               anything else: a library without the entry point)
 * The command's behaviour is chosen by its argument string:
 *   bad-json    one good row, then text that is not JSON
 *   not-object  a row that is JSON but not an object
 *   fail        an error with a message;  fail-silent  an error status without one
 *   segv        a row, then a write through a null pointer (a crash in plugin code)
 *   abort       a row, then abort()
 *   escape TEXT one row {"escaped": TEXT, "need": N} with TEXT escaped by the host's json_string
 *   anything else: one row {"plugin": PLUGIN_NAME, "args": "..."}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooldbg_plugin.h"

#ifndef PLUGIN_NAME
#define PLUGIN_NAME "negative"
#endif
#ifndef COMMAND_NAME
#define COMMAND_NAME "neg"
#endif
#ifndef DESCRIPTOR_ABI
#define DESCRIPTOR_ABI POOLDBG_ABI_VERSION
#endif
#ifndef ENTRY_NAME
#define ENTRY_NAME pooldbg_plugin_v1
#endif

static int is(PooldbgStr s, const char *text) {
    return s.len == strlen(text) && (s.len == 0 || memcmp(s.ptr, text, s.len) == 0);
}

static uint32_t run(const PooldbgHostApi *host, PooldbgHostContext *ctx, uint32_t command,
                    PooldbgStr args) {
    if (command != 0) {
        return POOLDBG_STATUS_INVALID_ARGUMENT;
    }
    if (is(args, "bad-json")) {
        host->emit_row(ctx, POOLDBG_STR("{\"ok\": 1}"));
        return host->emit_row(ctx, POOLDBG_STR("{not json"));
    }
    if (is(args, "not-object")) {
        return host->emit_row(ctx, POOLDBG_STR("[1, 2]"));
    }
    if (is(args, "fail")) {
        host->set_error(ctx, POOLDBG_STR("the C plugin failed on purpose"));
        return POOLDBG_STATUS_ERROR;
    }
    if (is(args, "fail-silent")) {
        return POOLDBG_STATUS_ERROR;
    }
    if (args.len >= 7 && memcmp(args.ptr, "escape ", 7) == 0) {
        PooldbgStr text = {args.ptr + 7, args.len - 7};
        if (!POOLDBG_HAS(host, json_string)) {
            return POOLDBG_STATUS_UNSUPPORTED;
        }
        size_t need = host->json_string(text, NULL, 0);
        char lit[256];
        if (need < 2 || need > sizeof(lit) ||
            host->json_string(text, (uint8_t *)lit, sizeof(lit)) != need) {
            return POOLDBG_STATUS_ERROR;
        }
        char out[400];
        int n = snprintf(out, sizeof(out), "{\"escaped\": %.*s, \"need\": %zu}", (int)need, lit,
                         need);
        if (n < 0 || (size_t)n >= sizeof(out)) {
            return POOLDBG_STATUS_ERROR;
        }
        PooldbgStr json = {(const uint8_t *)out, (size_t)n};
        return host->emit_row(ctx, json);
    }
    if (is(args, "segv")) {
        host->emit_row(ctx, POOLDBG_STR("{\"before\": 1}"));
        volatile int *volatile nowhere = NULL;
        *nowhere = 1;
        return POOLDBG_STATUS_OK;
    }
    if (is(args, "abort")) {
        host->emit_row(ctx, POOLDBG_STR("{\"before\": 1}"));
        abort();
    }
    char row[256];
    int n = snprintf(row, sizeof(row), "{\"plugin\": \"%s\", \"args\": \"%.*s\"}", PLUGIN_NAME,
                     (int)(args.len < 100 ? args.len : 100), (const char *)args.ptr);
    if (n < 0 || (size_t)n >= sizeof(row)) {
        return POOLDBG_STATUS_ERROR;
    }
    PooldbgStr json = {(const uint8_t *)row, (size_t)n};
    return host->emit_row(ctx, json);
}

static const PooldbgCommandDescriptor COMMANDS[] = {
    {POOLDBG_STR_INIT(COMMAND_NAME), POOLDBG_STR_INIT("a test command"),
     POOLDBG_STR_INIT("!" COMMAND_NAME), POOLDBG_STR_INIT("")},
};

static const PooldbgPluginDescriptor DESCRIPTOR = {
    DESCRIPTOR_ABI,
    sizeof(PooldbgPluginDescriptor),
    1,
    sizeof(PooldbgCommandDescriptor),
    POOLDBG_STR_INIT(PLUGIN_NAME),
    POOLDBG_STR_INIT("0.0.1"),
    COMMANDS,
    run,
};

__attribute__((visibility("default"))) const PooldbgPluginDescriptor *ENTRY_NAME(void) {
    return &DESCRIPTOR;
}
