
/*
 * Copyright (C) chrys authors
 *
 * A cluster's front: "chrys_cluster_view UPSTREAM PREFIX" answers
 * .../streams and .../metrics for every node of UPSTREAM.  It asks all
 * the nodes at once with in-memory subrequests to PREFIX ADDR
 * "/streams" (an internal location that proxies to ADDR, whose answer is
 * bounded by its subrequest_output_buffer_size), then merges: each stream
 * and each metric sample gets its node, and every node is listed as up or
 * down.  All of it runs in the event loop; nothing is shared.
 *
 * $chrys_cluster_key is the key a front hashes an API request by, the
 * stream's "APP/NAME" of the location's captures $chrys_app and
 * $chrys_name escaped as nginx-rtmp escapes them in its on_publish
 * request ($arg_app/$arg_name there): both routes agree on any name.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_CHRYS_CLUSTER_STREAMS  0
#define NGX_HTTP_CHRYS_CLUSTER_METRICS  1


typedef struct {
    ngx_http_upstream_srv_conf_t  *upstream;
    ngx_str_t                      prefix;
} ngx_http_chrys_cluster_loc_conf_t;


typedef struct {
    ngx_str_t                      name;     /* as the upstream lists it */
    ngx_str_t                      addr;     /* its address, IP:port */
    ngx_uint_t                     status;   /* 0 until it answers */
    ngx_str_t                      body;
    ngx_http_request_t            *sr;       /* the subrequest asking it */
} ngx_http_chrys_cluster_node_t;


typedef struct {
    ngx_http_chrys_cluster_node_t *nodes;
    ngx_uint_t                     nnodes;
    ngx_uint_t                     what;
} ngx_http_chrys_cluster_ctx_t;


/* a metric family of one node's answer */

typedef struct {
    ngx_str_t                      name;
    ngx_str_t                      head;     /* its # HELP and # TYPE */
    ngx_str_t                      samples;
    ngx_http_chrys_cluster_node_t *node;
    ngx_uint_t                     done;
} ngx_http_chrys_cluster_family_t;


static ngx_int_t ngx_http_chrys_cluster_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_chrys_cluster_nodes(ngx_http_request_t *r,
    ngx_http_chrys_cluster_ctx_t *ctx);
static ngx_int_t ngx_http_chrys_cluster_ask(ngx_http_request_t *r,
    ngx_http_chrys_cluster_ctx_t *ctx, ngx_http_chrys_cluster_node_t *node);
static ngx_int_t ngx_http_chrys_cluster_answered(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static void ngx_http_chrys_cluster_wake(ngx_http_request_t *r);
static ngx_int_t ngx_http_chrys_cluster_send(ngx_http_request_t *r,
    ngx_http_chrys_cluster_ctx_t *ctx);
static ngx_int_t ngx_http_chrys_cluster_streams(ngx_http_request_t *r,
    ngx_http_chrys_cluster_ctx_t *ctx, ngx_str_t *out);
static size_t ngx_http_chrys_cluster_label(u_char *out, u_char *p,
    u_char *last, ngx_str_t *node);
static ngx_int_t ngx_http_chrys_cluster_metrics(ngx_http_request_t *r,
    ngx_http_chrys_cluster_ctx_t *ctx, ngx_str_t *out);
static ngx_int_t ngx_http_chrys_cluster_families(ngx_array_t *families,
    ngx_http_chrys_cluster_node_t *node);
static size_t ngx_http_chrys_cluster_samples(u_char *out, ngx_str_t *samples,
    ngx_str_t *node);
static ngx_int_t ngx_http_chrys_cluster_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_chrys_cluster_key(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void *ngx_http_chrys_cluster_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_chrys_cluster_view(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_command_t  ngx_http_chrys_cluster_commands[] = {

    { ngx_string("chrys_cluster_view"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_chrys_cluster_view,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_chrys_cluster_module_ctx = {
    ngx_http_chrys_cluster_add_variables,  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_chrys_cluster_create_loc_conf, /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_chrys_cluster_module = {
    NGX_MODULE_V1,
    &ngx_http_chrys_cluster_module_ctx,    /* module context */
    ngx_http_chrys_cluster_commands,       /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_chrys_cluster_vars[] = {

    { ngx_string("chrys_cluster_key"), NULL, ngx_http_chrys_cluster_key, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* the captures the key is made of, in this order */

static ngx_str_t  ngx_http_chrys_cluster_parts[] = {
    ngx_string("chrys_app"), ngx_string("chrys_name")
};


static ngx_str_t  ngx_http_chrys_cluster_json_type =
    ngx_string("application/json");
static ngx_str_t  ngx_http_chrys_cluster_metrics_type =
    ngx_string("text/plain; version=0.0.4; charset=utf-8");


static ngx_int_t
ngx_http_chrys_cluster_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_uint_t                     i, asked;
    ngx_http_chrys_cluster_ctx_t  *ctx;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_chrys_cluster_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->uri.len >= sizeof("/streams") - 1
        && ngx_strncmp(r->uri.data + r->uri.len - (sizeof("/streams") - 1),
                       "/streams", sizeof("/streams") - 1) == 0)
    {
        ctx->what = NGX_HTTP_CHRYS_CLUSTER_STREAMS;

    } else if (r->uri.len >= sizeof("/metrics") - 1
               && ngx_strncmp(r->uri.data + r->uri.len
                              - (sizeof("/metrics") - 1),
                              "/metrics", sizeof("/metrics") - 1) == 0)
    {
        ctx->what = NGX_HTTP_CHRYS_CLUSTER_METRICS;

    } else {
        return NGX_HTTP_NOT_FOUND;
    }

    if (ngx_http_chrys_cluster_nodes(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_chrys_cluster_module);

    /*
     * all at once: a node that is down costs the view its timeout once;
     * one that cannot be asked (logged) is listed as down
     */

    asked = 0;

    for (i = 0; i < ctx->nnodes; i++) {
        if (ngx_http_chrys_cluster_ask(r, ctx, &ctx->nodes[i]) == NGX_OK) {
            asked++;
            continue;
        }

        ctx->nodes[i].status = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (asked == 0) {
        return ngx_http_chrys_cluster_send(r, ctx);
    }

    r->write_event_handler = ngx_http_chrys_cluster_wake;
    r->main->count++;

    return NGX_DONE;
}


static ngx_int_t
ngx_http_chrys_cluster_nodes(ngx_http_request_t *r,
    ngx_http_chrys_cluster_ctx_t *ctx)
{
    ngx_uint_t                          i;
    ngx_http_upstream_server_t         *server;
    ngx_http_chrys_cluster_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_chrys_cluster_module);

    if (clcf->upstream->servers == NULL
        || clcf->upstream->servers->nelts == 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "chrys_cluster_view: upstream \"%V\" has no servers",
                      &clcf->upstream->host);
        return NGX_ERROR;
    }

    server = clcf->upstream->servers->elts;
    ctx->nnodes = clcf->upstream->servers->nelts;

    ctx->nodes = ngx_pcalloc(r->pool,
                             ctx->nnodes
                             * sizeof(ngx_http_chrys_cluster_node_t));
    if (ctx->nodes == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < ctx->nnodes; i++) {
        ctx->nodes[i].name = server[i].name;

        if (server[i].naddrs == 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "chrys_cluster_view: server \"%V\" of upstream "
                          "\"%V\" has no address", &server[i].name,
                          &clcf->upstream->host);
            return NGX_ERROR;
        }

        ctx->nodes[i].addr = server[i].addrs[0].name;
    }

    return NGX_OK;
}


/* a subrequest to PREFIX ADDR "/streams" or "/metrics" for a node */

static ngx_int_t
ngx_http_chrys_cluster_ask(ngx_http_request_t *r,
    ngx_http_chrys_cluster_ctx_t *ctx, ngx_http_chrys_cluster_node_t *node)
{
    u_char                             *p;
    ngx_str_t                           uri, *what;
    ngx_http_post_subrequest_t         *ps;
    ngx_http_chrys_cluster_loc_conf_t  *clcf;

    static ngx_str_t  streams = ngx_string("/streams");
    static ngx_str_t  metrics = ngx_string("/metrics");

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_chrys_cluster_module);

    what = (ctx->what == NGX_HTTP_CHRYS_CLUSTER_STREAMS) ? &streams : &metrics;

    uri.len = clcf->prefix.len + node->addr.len + what->len;
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(uri.data, clcf->prefix.data, clcf->prefix.len);
    p = ngx_cpymem(p, node->addr.data, node->addr.len);
    ngx_memcpy(p, what->data, what->len);

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_chrys_cluster_answered;
    ps->data = node;

    if (ngx_http_subrequest(r, &uri, NULL, &node->sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "chrys_cluster_view: no subrequest to \"%V\"", &uri);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_chrys_cluster_answered(ngx_http_request_t *r, void *data,
    ngx_int_t rc)
{
    ngx_http_chrys_cluster_node_t  *node = data;

    if (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE
        || r->connection->error)
    {
        if (node->status == 0) {
            node->status = (rc >= NGX_HTTP_SPECIAL_RESPONSE)
                           ? (ngx_uint_t) rc : NGX_HTTP_BAD_GATEWAY;
        }

        node->body.len = 0;
        return rc;
    }

    if (node->status == 0 || node->status == NGX_HTTP_OK) {
        node->status = r->headers_out.status;
    }

    if (node->status == NGX_HTTP_OK && r->out && r->out->buf) {
        node->body.data = r->out->buf->pos;
        node->body.len = r->out->buf->last - r->out->buf->pos;
    }

    return rc;
}


/* the parent, woken when a subrequest is over: the end, once all are */

static void
ngx_http_chrys_cluster_wake(ngx_http_request_t *r)
{
    ngx_uint_t                     i;
    ngx_http_chrys_cluster_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_chrys_cluster_module);

    if (ctx == NULL) {
        return;
    }

    for (i = 0; i < ctx->nnodes; i++) {
        if (ctx->nodes[i].sr && !ctx->nodes[i].sr->done) {
            return;
        }
    }

    for (i = 0; i < ctx->nnodes; i++) {
        ctx->nodes[i].sr = NULL;
    }

    ngx_http_finalize_request(r, ngx_http_chrys_cluster_send(r, ctx));
}


static ngx_int_t
ngx_http_chrys_cluster_send(ngx_http_request_t *r,
    ngx_http_chrys_cluster_ctx_t *ctx)
{
    ngx_int_t     rc;
    ngx_str_t     out;
    ngx_buf_t    *b;
    ngx_chain_t   cl;

    if (ctx->what == NGX_HTTP_CHRYS_CLUSTER_STREAMS) {
        rc = ngx_http_chrys_cluster_streams(r, ctx, &out);
        r->headers_out.content_type = ngx_http_chrys_cluster_json_type;

    } else {
        rc = ngx_http_chrys_cluster_metrics(r, ctx, &out);
        r->headers_out.content_type = ngx_http_chrys_cluster_metrics_type;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = out.len;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = out.data;
    b->last = out.data + out.len;
    b->memory = (out.len != 0);
    b->last_buf = 1;
    b->last_in_chain = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    cl.buf = b;
    cl.next = NULL;

    return ngx_http_output_filter(r, &cl);
}


/*
 * {"streams":[...],"nodes":[...]}: the streams of every node that
 * answered, each with "node", and every node with "up" and the status of
 * its answer (0: none)
 */

static ngx_int_t
ngx_http_chrys_cluster_streams(ngx_http_request_t *r,
    ngx_http_chrys_cluster_ctx_t *ctx, ngx_str_t *out)
{
    u_char                         *p, *last;
    size_t                          len, n;
    ngx_str_t                       inner, *name;
    ngx_uint_t                      i, first;
    ngx_http_chrys_cluster_node_t  *node;

    static u_char  head[] = "{\"streams\":[";
    static u_char  tail[] = "]}";

    len = sizeof("{\"streams\":[],\"nodes\":[]}\n");

    for (i = 0; i < ctx->nnodes; i++) {
        node = &ctx->nodes[i];
        name = &node->name;

        /* a node's answer must be {"streams":[...]}, else it is down */

        while (node->body.len
               && (node->body.data[node->body.len - 1] == '\n'
                   || node->body.data[node->body.len - 1] == ' '))
        {
            node->body.len--;
        }

        if (node->status == NGX_HTTP_OK
            && (node->body.len < sizeof(head) - 1 + sizeof(tail) - 1
                || ngx_strncmp(node->body.data, head, sizeof(head) - 1) != 0
                || ngx_strncmp(node->body.data + node->body.len
                               - (sizeof(tail) - 1), tail,
                               sizeof(tail) - 1) != 0))
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "chrys_cluster_view: the streams of node \"%V\" "
                          "are no JSON list of streams", name);
            node->status = NGX_HTTP_BAD_GATEWAY;
        }

        if (node->status != NGX_HTTP_OK) {
            node->body.len = 0;
        }

        len += sizeof("{\"node\":\"\",\"up\":false,\"status\":},")
               + 2 * name->len + ngx_escape_json(NULL, name->data, name->len)
               + NGX_INT_T_LEN;

        if (node->body.len) {
            inner.data = node->body.data + sizeof(head) - 1;
            inner.len = node->body.len - (sizeof(head) - 1)
                        - (sizeof(tail) - 1);
            len += 1 + ngx_http_chrys_cluster_label(NULL, inner.data,
                                                    inner.data + inner.len,
                                                    name);
        }
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    last = ngx_cpymem(p, head, sizeof(head) - 1);
    first = 1;

    for (i = 0; i < ctx->nnodes; i++) {
        node = &ctx->nodes[i];

        if (node->body.len == 0) {
            continue;
        }

        inner.data = node->body.data + sizeof(head) - 1;
        inner.len = node->body.len - (sizeof(head) - 1) - (sizeof(tail) - 1);

        if (inner.len == 0) {
            continue;
        }

        if (!first) {
            *last++ = ',';
        }

        first = 0;
        n = ngx_http_chrys_cluster_label(last, inner.data,
                                         inner.data + inner.len, &node->name);
        last += n;
    }

    last = ngx_cpymem(last, "],\"nodes\":[", sizeof("],\"nodes\":[") - 1);

    for (i = 0; i < ctx->nnodes; i++) {
        node = &ctx->nodes[i];

        if (i) {
            *last++ = ',';
        }

        last = ngx_cpymem(last, "{\"node\":\"", sizeof("{\"node\":\"") - 1);
        last = (u_char *) ngx_escape_json(last, node->name.data,
                                          node->name.len);
        last = ngx_sprintf(last, "\",\"up\":%s,\"status\":%ui}",
                           node->status == NGX_HTTP_OK ? "true" : "false",
                           node->status);
    }

    last = ngx_cpymem(last, "]}\n", 3);

    out->data = p;
    out->len = last - p;

    return NGX_OK;
}


/*
 * The objects of a JSON list, copied to out with "node":"NODE" first in
 * each; the length, only counted when out is NULL.  Strings are skipped
 * as such, so braces in them count for nothing.
 */

static size_t
ngx_http_chrys_cluster_label(u_char *out, u_char *p, u_char *last,
    ngx_str_t *node)
{
    u_char      *o;
    size_t       len, label;
    ngx_uint_t   depth, string, escaped;

    label = sizeof("\"node\":\"\",") - 1
            + node->len + ngx_escape_json(NULL, node->data, node->len);

    len = 0;
    o = out;
    depth = 0;
    string = 0;
    escaped = 0;

    for ( /* void */ ; p < last; p++) {
        len++;

        if (o) {
            *o++ = *p;
        }

        if (string) {
            if (escaped) {
                escaped = 0;

            } else if (*p == '\\') {
                escaped = 1;

            } else if (*p == '"') {
                string = 0;
            }

            continue;
        }

        switch (*p) {

        case '"':
            string = 1;
            break;

        case '{':
        case '[':
            if (*p == '{' && depth == 0) {
                len += label;

                if (o) {
                    o = ngx_cpymem(o, "\"node\":\"", sizeof("\"node\":\"") - 1);
                    o = (u_char *) ngx_escape_json(o, node->data, node->len);
                    *o++ = '"';

                    if (p + 1 < last && p[1] != '}') {
                        *o++ = ',';
                    }
                }
            }

            depth++;
            break;

        case '}':
        case ']':
            if (depth) {
                depth--;
            }

            break;
        }
    }

    return o ? (size_t) (o - out) : len;
}


/*
 * The Prometheus text of every node that answered, a family at a time
 * (its # HELP and # TYPE once, then its samples of each node, each with a
 * "node" label), then chrys_node_up of every node.
 */

static ngx_int_t
ngx_http_chrys_cluster_metrics(ngx_http_request_t *r,
    ngx_http_chrys_cluster_ctx_t *ctx, ngx_str_t *out)
{
    u_char                           *p, *last;
    size_t                            len;
    ngx_uint_t                        i, j;
    ngx_array_t                       families;
    ngx_http_chrys_cluster_node_t    *node;
    ngx_http_chrys_cluster_family_t  *f;

    static u_char  up[] = "# HELP chrys_node_up Whether the node answered "
                          "the front (1) or not (0).\n"
                          "# TYPE chrys_node_up gauge\n";

    if (ngx_array_init(&families, r->pool, 64,
                       sizeof(ngx_http_chrys_cluster_family_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    len = sizeof(up);

    for (i = 0; i < ctx->nnodes; i++) {
        node = &ctx->nodes[i];

        if (node->status != NGX_HTTP_OK) {
            node->body.len = 0;
        }

        if (ngx_http_chrys_cluster_families(&families, node) != NGX_OK) {
            return NGX_ERROR;
        }

        len += sizeof("chrys_node_up{node=\"\"} 0\n") + node->name.len
               + ngx_escape_json(NULL, node->name.data, node->name.len);
    }

    f = families.elts;

    for (i = 0; i < families.nelts; i++) {
        len += f[i].head.len
               + ngx_http_chrys_cluster_samples(NULL, &f[i].samples,
                                                &f[i].node->name);
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    last = p;

    for (i = 0; i < families.nelts; i++) {
        if (f[i].done) {
            continue;
        }

        last = ngx_cpymem(last, f[i].head.data, f[i].head.len);

        for (j = i; j < families.nelts; j++) {
            if (f[j].done
                || f[j].name.len != f[i].name.len
                || ngx_strncmp(f[j].name.data, f[i].name.data,
                               f[i].name.len) != 0)
            {
                continue;
            }

            last += ngx_http_chrys_cluster_samples(last, &f[j].samples,
                                                   &f[j].node->name);
            f[j].done = 1;
        }
    }

    last = ngx_cpymem(last, up, sizeof(up) - 1);

    for (i = 0; i < ctx->nnodes; i++) {
        node = &ctx->nodes[i];

        last = ngx_cpymem(last, "chrys_node_up{node=\"",
                          sizeof("chrys_node_up{node=\"") - 1);
        last = (u_char *) ngx_escape_json(last, node->name.data,
                                          node->name.len);
        last = ngx_sprintf(last, "\"} %d\n",
                           node->status == NGX_HTTP_OK ? 1 : 0);
    }

    out->data = p;
    out->len = last - p;

    return NGX_OK;
}


/* a node's answer cut into families: each from its "# HELP" line on */

static ngx_int_t
ngx_http_chrys_cluster_families(ngx_array_t *families,
    ngx_http_chrys_cluster_node_t *node)
{
    u_char                           *p, *last, *eol, *name;
    ngx_http_chrys_cluster_family_t  *f;

    f = NULL;
    p = node->body.data;
    last = node->body.data + node->body.len;

    while (p < last) {
        eol = ngx_strlchr(p, last, '\n');
        eol = (eol == NULL) ? last : eol + 1;

        if (*p == '#') {
            if (eol - p > 7 && ngx_strncmp(p, "# HELP ", 7) == 0) {
                f = ngx_array_push(families);
                if (f == NULL) {
                    return NGX_ERROR;
                }

                ngx_memzero(f, sizeof(ngx_http_chrys_cluster_family_t));

                name = p + 7;
                f->name.data = name;

                while (name < eol && *name != ' ' && *name != '\n') {
                    name++;
                }

                f->name.len = name - f->name.data;
                f->head.data = p;
                f->node = node;
            }

            if (f) {
                f->head.len = eol - f->head.data;
                f->samples.data = eol;
            }

            p = eol;
            continue;
        }

        if (f == NULL) {
            /* samples before any # HELP: a family without a head */

            f = ngx_array_push(families);
            if (f == NULL) {
                return NGX_ERROR;
            }

            ngx_memzero(f, sizeof(ngx_http_chrys_cluster_family_t));
            f->name.data = p;
            f->name.len = 0;
            f->head.data = p;
            f->samples.data = p;
            f->node = node;
        }

        f->samples.len = eol - f->samples.data;
        p = eol;
    }

    return NGX_OK;
}


/* sample lines with node="NODE" first among their labels */

static size_t
ngx_http_chrys_cluster_samples(u_char *out, ngx_str_t *samples,
    ngx_str_t *node)
{
    u_char  *p, *last, *eol, *brace, *space, *o;
    size_t   len, label;

    label = sizeof("{node=\"\"}") + node->len
            + ngx_escape_json(NULL, node->data, node->len);

    len = 0;
    o = out;
    p = samples->data;
    last = samples->data + samples->len;

    while (p < last) {
        eol = ngx_strlchr(p, last, '\n');
        eol = (eol == NULL) ? last : eol + 1;

        if (*p == '\n' || *p == '#') {
            len += eol - p;

            if (o) {
                o = ngx_cpymem(o, p, eol - p);
            }

            p = eol;
            continue;
        }

        brace = ngx_strlchr(p, eol, '{');
        space = ngx_strlchr(p, eol, ' ');

        if (space == NULL) {
            space = eol;
        }

        len += (eol - p) + label;

        if (o) {
            if (brace && brace < space) {
                o = ngx_cpymem(o, p, brace + 1 - p);
                o = ngx_cpymem(o, "node=\"", sizeof("node=\"") - 1);
                o = (u_char *) ngx_escape_json(o, node->data, node->len);
                *o++ = '"';

                if (brace[1] != '}') {
                    *o++ = ',';
                }

                o = ngx_cpymem(o, brace + 1, eol - (brace + 1));

            } else {
                o = ngx_cpymem(o, p, space - p);
                o = ngx_cpymem(o, "{node=\"", sizeof("{node=\"") - 1);
                o = (u_char *) ngx_escape_json(o, node->data, node->len);
                *o++ = '"';
                *o++ = '}';
                o = ngx_cpymem(o, space, eol - space);
            }
        }

        p = eol;
    }

    return o ? (size_t) (o - out) : len;
}


static ngx_int_t
ngx_http_chrys_cluster_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_chrys_cluster_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * $chrys_cluster_key: "APP/NAME" of the captures, each escaped with
 * NGX_ESCAPE_ARGS as nginx-rtmp's notifications escape the app and the
 * name; not found unless the location captured both.
 */

static ngx_int_t
ngx_http_chrys_cluster_key(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                     *p;
    size_t                      len;
    ngx_str_t                  *name;
    ngx_uint_t                  i;
    ngx_http_variable_value_t  *part[2];

    len = 1;

    for (i = 0; i < 2; i++) {
        name = &ngx_http_chrys_cluster_parts[i];

        part[i] = ngx_http_get_variable(r, name,
                                        ngx_hash_key(name->data, name->len));

        if (part[i] == NULL || part[i]->not_found) {
            v->not_found = 1;
            return NGX_OK;
        }

        len += part[i]->len
               + 2 * ngx_escape_uri(NULL, part[i]->data, part[i]->len,
                                    NGX_ESCAPE_ARGS);
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    p = (u_char *) ngx_escape_uri(p, part[0]->data, part[0]->len,
                                  NGX_ESCAPE_ARGS);
    *p++ = '/';
    p = (u_char *) ngx_escape_uri(p, part[1]->data, part[1]->len,
                                  NGX_ESCAPE_ARGS);

    v->len = p - v->data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static void *
ngx_http_chrys_cluster_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_chrys_cluster_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_chrys_cluster_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->upstream = NULL;
     *     conf->prefix = { 0, NULL };
     */

    return conf;
}


/* chrys_cluster_view UPSTREAM PREFIX; */

static char *
ngx_http_chrys_cluster_view(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_chrys_cluster_loc_conf_t  *clcf = conf;

    ngx_url_t                  u;
    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *core;

    if (clcf->upstream) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[2].len == 0 || value[2].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chrys_cluster_view\" needs the prefix of an "
                           "internal location that proxies to the node its "
                           "path names, e.g. \"/chrys-node/\", not \"%V\"",
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.default_port = 80;
    u.no_resolve = 1;

    clcf->upstream = ngx_http_upstream_add(cf, &u, 0);
    if (clcf->upstream == NULL) {
        return NGX_CONF_ERROR;
    }

    clcf->prefix = value[2];

    core = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    core->handler = ngx_http_chrys_cluster_handler;

    return NGX_CONF_OK;
}
