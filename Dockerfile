# Builds the three binaries and veilctl, and the IP geolocation database;
# docker-compose.yml runs each binary as its own service.
FROM golang:1.26-bookworm AS build
# Debian's tor-geoipdb: the IP ranges of every country, which `enricher geoip
# build` turns into the MMDB file the enricher locates IP addresses with (the
# same database scripts/demo builds).
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tor-geoipdb \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./producer ./enricher ./sink ./veilctl
RUN mkdir /geoip && /out/enricher geoip build --out /geoip/geoip.mmdb
# The pseudonym key directory and the sink's dedup index, owned by the user the binaries run as: a named
# volume mounted there starts with its owner and mode, so the enricher can write
# keys and keep the directory at 0700, and the sink its index.
RUN mkdir -p -m 0700 /state/keys /state/sink-dedup

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
# The demo service catalog: replace it with the service's own (a volume over this path).
COPY --from=build /src/internal/catalog/demo.json /etc/veil/service-catalog.json
# The IP geolocation database (enricher run --geoip): countries and large
# regions only. A volume over this path replaces it, e.g. with a DB-IP or
# GeoLite2 country or city database.
COPY --from=build /geoip/geoip.mmdb /etc/veil/geoip.mmdb
COPY --from=build --chown=65532:65532 /state/ /var/lib/veil/
USER nonroot
