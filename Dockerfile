# kinesisfs in a container (docs/containers.md).
#
#   docker build -t kinesisfs .
#   docker run -d --name kinesisfs --device /dev/fuse --cap-add SYS_ADMIN \
#       --security-opt apparmor=unconfined --stop-timeout 40 \
#       -v kinesisfs-data:/var/lib/kinesisfs \
#       -v /srv/kinesisfs:/srv/kinesisfs:rshared \
#       -e KINESISFS_MOUNT=/srv/kinesisfs/streams kinesisfs
#
# (/srv/kinesisfs a shared mount on the host; podman takes the same.)
# Arguments after the image name are kinesisfs options (-o backend=aws,...);
# the mount point is $KINESISFS_MOUNT. tests/integration/podman.sh and
# docker.sh build the image and run what docs/containers.md shows.

# ---- build stage: the -dev packages and the autotools build --------------
FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential autoconf automake pkg-config \
        libfuse3-dev libcurl4-openssl-dev libcjson-dev libssl-dev \
        libprotobuf-c-dev protobuf-c-compiler zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# OUT is where `make install` puts its tree; the runtime stage copies from it.
ARG OUT=/out
RUN autoreconf -fi \
 && ./configure --quiet --prefix=/usr/local \
 && make -j"$(nproc)" \
 && make install-strip DESTDIR="$OUT"

# ---- runtime stage: the shared libraries, fusermount3 and the binary ------
# attr: getfattr and setfattr, which the README's commands use on the
# mount (stream status, retention, resharding) from inside the container.
FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libfuse3-3 fuse3 libcurl4 libcjson1 libssl3 libprotobuf-c1 zlib1g \
        ca-certificates attr jq \
 && rm -rf /var/lib/apt/lists/*
# The user kinesisfs runs as (docker-entrypoint.sh); user_allow_other lets
# its mount be shared with root and other users (-o allow_other).
RUN useradd --system --uid 990 --user-group --create-home \
        --home-dir /home/kinesisfs --shell /usr/sbin/nologin kinesisfs \
 && echo user_allow_other >>/etc/fuse.conf
COPY --from=build /out/usr/local/bin/kinesisfs /usr/local/bin/kinesisfs
COPY docker-entrypoint.sh /usr/local/bin/kinesisfs-entrypoint
# The local engine's data_dir: mount a volume here to keep the streams.
ENV KINESISFS_DATA_DIR=/var/lib/kinesisfs
ENV KINESISFS_MOUNT=/mnt/kinesis
# Who kinesisfs runs as; "root" keeps root (docs/containers.md).
ENV KINESISFS_USER=kinesisfs
# kinesisfs is PID 1 and in the foreground (-f), logging to stderr: SIGTERM
# (docker stop) delivers queued records (up to 30 s), unmounts and exits.
ENTRYPOINT ["/usr/local/bin/kinesisfs-entrypoint"]
CMD []
