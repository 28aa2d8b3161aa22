# chrys: live camera frames on demand, inside nginx.
#
#   make          build objs/ngx_chrys_module.so (installs build deps)
#   make run      build, then run nginx in the foreground with
#                 nginx.conf.example (RTMPS :1936, HTTPS :8443, RTMP :1935,
#                 HTTP :8080; a certificate of its own in objs/run/tls)
#   make demo     publish an ffmpeg test pattern to the running server
#   make cluster N=3  a front (RTMP :1935, HTTP :8080) and N nodes (node K:
#                 RTMP :19350+K, HTTP :18080+K) on loopback, in the
#                 foreground, from examples/cluster/ (see README, Cluster)
#   make test     install test deps, build, run the C unit tests and t/
#   make bench    the performance figures of the README
#   make soak     8 publishers and SOAK_CLIENTS HTTP clients for SOAK_SECONDS
#                 on loopback; prints the figures of the README
#   make fuzz     install clang, build, run each libFuzzer harness of t/fuzz
#                 for FUZZ_SECONDS (make fuzz FUZZ_SECONDS=600)
#   make test-asan  the C unit tests and t/ against the module built with
#                 ASan and UBSan in objs/asan (Debian's nginx, the runtimes
#                 preloaded); fails on any sanitizer report (t/asan/)
#   make install  install the module into Debian's nginx
#   make deb      build objs/libnginx-mod-chrys_VERSION_ARCH.deb (debhelper,
#                 nginx-dev's dh_nginx; installs the build deps)
#   make test-deb the package installed with apt into a fresh debootstrap
#                 of Debian 12, nginx started there, a picture fetched
#   make test-docker  docker/Dockerfile built (docker, else podman) with
#                 that package, started, a picture fetched, stopped
#                 (DOCKER_FROM_SOURCE=1: the image builds the package)

PYTHON    = /usr/bin/python3
N         = 3
FUZZ_SECONDS = 60
SOAK_SECONDS = 60
SOAK_CLIENTS = 500
VERSION   := $(shell cat VERSION)
DEB       = objs/libnginx-mod-chrys_$(VERSION)_$(shell dpkg --print-architecture).deb
SOURCES   = config $(wildcard ngx_chrys*.h ngx_chrys*.c)

.PHONY: all deps test-deps fuzz-deps asan-deps run cluster demo test unit bench soak \
        fuzz test-asan install deb test-deb test-docker clean

all: objs/ngx_chrys_module.so

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

fuzz-deps:
	@scripts/deps.sh fuzz

asan-deps:
	@scripts/deps.sh asan

objs/ngx_chrys_module.so: $(SOURCES) scripts/build.sh
	@scripts/deps.sh build
	scripts/build.sh

run: all
	scripts/run.sh

cluster: all
	scripts/cluster.sh $(N)

demo:
	scripts/demo.sh

unit: test-deps all
	scripts/unit.sh

test: test-deps all unit
	$(PYTHON) -m pytest -v t/

bench: test-deps all
	$(PYTHON) t/bench.py

soak: test-deps all
	$(PYTHON) t/soak.py $(SOAK_SECONDS) $(SOAK_CLIENTS)

fuzz: fuzz-deps all
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

test-asan: asan-deps
	PYTHON=$(PYTHON) scripts/test-asan.sh

install: all
	install -m 644 objs/ngx_chrys_module.so /usr/lib/nginx/modules/
	install -m 644 packaging/debian/mod-chrys.conf \
	    /usr/share/nginx/modules-available/mod-chrys.conf
	ln -sf /usr/share/nginx/modules-available/mod-chrys.conf \
	    /etc/nginx/modules-enabled/60-mod-chrys.conf

deb: $(DEB)

$(DEB): $(SOURCES) VERSION README.md nginx.conf.example scripts/deb.sh \
        scripts/source.sh $(wildcard packaging/debian/* packaging/debian/*/*)
	@scripts/deps.sh deb
	scripts/deb.sh

test-deb: $(DEB)
	@scripts/deps.sh test-deb
	scripts/test-deb.sh $(DEB)

test-docker: $(if $(DOCKER_FROM_SOURCE),,$(DEB))
	scripts/test-docker.sh $(if $(DOCKER_FROM_SOURCE),--from-source,$(DEB))

clean:
	rm -rf objs
