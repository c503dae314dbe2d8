# Builds the three binaries and veilctl; docker-compose.yml runs each as its own service.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./producer ./enricher ./sink ./veilctl
# The pseudonym key directory, owned by the user the binaries run as: a named
# volume mounted there starts with its owner and mode, so the enricher can write
# keys and keep the directory at 0700.
RUN mkdir -p -m 0700 /state/keys

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
# The demo service catalog: replace it with the service's own (a volume over this path).
COPY --from=build /src/internal/catalog/demo.json /etc/veil/service-catalog.json
COPY --from=build --chown=65532:65532 /state/ /var/lib/veil/
USER nonroot
