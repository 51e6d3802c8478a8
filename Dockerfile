# One image for every jetsource service: static binaries on a distroless,
# non-root base. Pick the service with the container's command, e.g.
#   docker run jetsource /usr/local/bin/writer
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ENV CGO_ENABLED=0
RUN mkdir /out /auth && go build -trimpath -tags grpcnotrace -ldflags="-s -w" -o /out/ ./cmd/...

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
# The folder of `jetsource nats-config -out /auth` in docker-compose: owned
# by nonroot, so that the volume mounted there is too.
COPY --from=build --chown=nonroot:nonroot /auth /auth
USER nonroot:nonroot
ENTRYPOINT []
