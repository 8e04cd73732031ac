# One image per Go service: docker-compose.yml builds it with SERVICE set to
# the service's directory under cmd/.
#
# Go and its libraries come from Debian's packages (the libraries install their
# source under /usr/share/gocode, where go.mod's `replace` lines point), so the
# build needs only Debian's mirror, not the Go module proxy. The first stage
# builds all five binaries and is the same for every service, so Docker builds
# it once (and shares the compiled standard library) for the five images.
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      golang-go golang-github-lib-pq-dev golang-github-gomodule-redigo-dev \
      golang-github-gorilla-websocket-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod ./
COPY internal/ internal/
COPY cmd/ cmd/
ARG VERSION=prod
# Static, stripped, without build paths (as the production layout asks).
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION} -extldflags '-static'" \
      -o /out/ ./cmd/...

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home app
ARG SERVICE
COPY --from=build /out/${SERVICE} /usr/local/bin/service
USER app
ENTRYPOINT ["/usr/local/bin/service"]
# Each service answers GET /health on $PORT; `service healthcheck` asks it.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/service", "healthcheck"]
