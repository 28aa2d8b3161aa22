
/*
 * Copyright (C) chrys authors
 *
 * What the nginx core files linked into the unit tests (slab, shmtx,
 * rbtree, crc32, string, times, palloc, array, alloc, shmem) expect from the
 * rest of nginx: the process globals that ngx_os_init() and main() fill
 * in, and an error log that writes to stderr.  Nothing of chrys is faked
 * here.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_unit.h"


ngx_pid_t              ngx_pid;
ngx_int_t              ngx_ncpu;
volatile ngx_cycle_t  *ngx_cycle;

/* only its address is used, as the tag of the chrys zone */
ngx_module_t           ngx_chrys_module;

/* messages of level "crit" and worse, and the last message logged */
ngx_uint_t             ngx_unit_log_crit;
u_char                 ngx_unit_log_last[NGX_MAX_ERROR_STR];

static ngx_log_t       ngx_unit_log;
static ngx_cycle_t     ngx_unit_cycle;

static const char     *ngx_unit_log_levels[] = {
    "stderr", "emerg", "alert", "crit", "error", "warn", "notice", "info",
    "debug"
};


/* what ngx_os_init() and main() set up before any zone is created */

void
ngx_unit_init(void)
{
    ngx_uint_t  n;

    ngx_unit_log.log_level = NGX_LOG_INFO;
    ngx_unit_cycle.log = &ngx_unit_log;
    ngx_cycle = &ngx_unit_cycle;

    ngx_pid = ngx_getpid();

    ngx_pagesize = getpagesize();
    ngx_cacheline_size = NGX_CPU_CACHE_LINE;

    for (n = ngx_pagesize; n >>= 1; ngx_pagesize_shift++) { /* void */ }

    ngx_ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    if (ngx_ncpu < 1) {
        ngx_ncpu = 1;
    }

    ngx_time_init();
    ngx_slab_sizes_init();
}


void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    u_char   *p, *last;
    va_list   args;

    last = ngx_unit_log_last + NGX_MAX_ERROR_STR - 1;

    va_start(args, fmt);
    p = ngx_vslprintf(ngx_unit_log_last, last, fmt, args);
    va_end(args);

    if (err) {
        p = ngx_slprintf(p, last, " (%d: %s)", err, strerror(err));
    }

    *p = '\0';

    if (level <= NGX_LOG_CRIT) {
        ngx_unit_log_crit++;
    }

    fprintf(stderr, "log: [%s] %s\n",
            ngx_unit_log_levels[ngx_min(level, NGX_LOG_DEBUG)],
            ngx_unit_log_last);
}


/* as with "debug_points abort;": the slab allocator calls it on corruption */

void
ngx_debug_point(void)
{
    fprintf(stderr, "ngx_debug_point() reached\n");
    ngx_abort();
}


/* ngx_chrys_zone_add() needs a configuration cycle: tests make zones */

ngx_shm_zone_t *
ngx_shared_memory_add(ngx_conf_t *cf, ngx_str_t *name, size_t size,
    void *tag)
{
    ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                  "ngx_shared_memory_add() is not available in unit tests");

    return NULL;
}
