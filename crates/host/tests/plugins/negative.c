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
 *   anything else: one row {"plugin": PLUGIN_NAME, "args": "..."}
 */
#include <stdio.h>
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
