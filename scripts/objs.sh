# Sourced by scripts/unit.sh and scripts/fuzz.sh, which build test programs
# out of the module's sources and nginx's own core files.
#
# compile DIR FLAGS SOURCE...: each SOURCE into DIR/NAME.o with $cc,
# $cflags, FLAGS and $incs; the objects' names are appended to $objs.
# nginx_core FULL: the core files of the nginx source tree FULL that the
# zone code links with (slab allocator, shmtx, rbtree, arrays and what they
# need).

compile() {
    dir=$1
    flags=$2
    shift 2

    for src in "$@"; do
        obj=$dir/$(basename "$src" .c).o
        $cc -c $cflags $flags $incs -o "$obj" "$src"
        objs="$objs $obj"
    done
}

nginx_core() {
    for f in core/ngx_slab.c core/ngx_shmtx.c core/ngx_rbtree.c \
             core/ngx_crc32.c core/ngx_string.c core/ngx_times.c \
             core/ngx_palloc.c core/ngx_array.c os/unix/ngx_alloc.c \
             os/unix/ngx_time.c \
             os/unix/ngx_shmem.c
    do
        echo "$1/src/$f"
    done
}
