# Builds the three binaries; docker-compose.yml runs each as its own service.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./producer ./enricher ./sink

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
# The demo service catalog: replace it with the service's own (a volume over this path).
COPY --from=build /src/internal/catalog/demo.json /etc/veil/service-catalog.json
USER nonroot
