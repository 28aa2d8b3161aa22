/*
 * make test-asan preloads this into nginx, after libasan and before
 * libubsan (LD_PRELOAD=libasan.so:preload.so:libubsan.so), for two things
 * that nginx would otherwise get in the way of.
 *
 * 1. When LeakSanitizer looks for leaks (ASAN_OPTIONS has
 * leak_check_at_exit=0).  At exit it would find, in every worker and in
 * the master, what nginx leaves behind on purpose: an exiting process
 * destroys the cycle's pool and calls exit() without freeing what only
 * that pool pointed to (the connections and events arrays, the pools and
 * buffers of the rtmp module, ...).  Debian's nginx and rtmp module are
 * stripped, so most of those frames have no name, and no suppression
 * could tell them from the module's own allocations.
 *
 * nginx unloads the dynamic modules (dlclose, a cleanup of the cycle's
 * pool) while destroying that pool: after every other cleanup of it, the
 * module's own included, and before any of its memory is freed.  When the
 * chrys module is unloaded, this dlclose runs the leak check: nginx still
 * holds everything then, and what nobody points to was lost for good.
 * That is when a worker or the master exits, and in the master for the
 * old cycle of a reload.  The module then stays mapped (nginx is exiting,
 * or has loaded it again for the new cycle), so that any later report
 * still names its functions.
 *
 * 2. UBSan's options.  nginx gives its workers an environment of its own,
 * without UBSAN_OPTIONS, and UBSan reads it only at its first report, in
 * a worker: it would then exit with neither stack nor abort.  The options
 * the master started with are kept here, and handed to UBSan as its
 * defaults.  (Its log_path is not honoured that way: UBSan reports go to
 * stderr, which is nginx's error log, and t/chrys.py keeps that.)
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static char  ubsan_options[4096];


__attribute__((constructor))
static void
save_ubsan_options(void)
{
    const char  *options;

    options = getenv("UBSAN_OPTIONS");

    if (options) {
        (void) snprintf(ubsan_options, sizeof(ubsan_options), "%s", options);
    }
}


const char *
__ubsan_default_options(void)
{
    return ubsan_options;
}


int
dlclose(void *handle)
{
    static int  (*next)(void *);

    if (dlsym(handle, "ngx_chrys_module") != NULL) {
        if (__lsan_do_recoverable_leak_check) {
            (void) __lsan_do_recoverable_leak_check();
        }

        return 0;
    }

    if (next == NULL) {
        next = (int (*)(void *)) dlsym(RTLD_NEXT, "dlclose");
    }

    return next(handle);
}
