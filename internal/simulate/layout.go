package simulate

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/veiltelemetry/veil/schemas"
)

// The fleet writes events straight into flat records (schemas.Value per
// field, in the raw schema's field order): no map per event and no lookup of
// field names. A layout holds the positions of one raw schema's fields,
// resolved by name from the schema once, at start (resolve).

// common fields of every raw schema.
type common struct {
	EventID        int `flat:"event_id"`
	EventTime      int `flat:"event_time"`
	InstallationID int `flat:"installation_id"`
	ClientIP       int `flat:"client_ip"`
	AppVersion     int `flat:"app_version"`
}

type playbackLayout struct {
	common
	AccountID     int `flat:"account_id"`
	ZipCode       int `flat:"zip_code"`
	DeviceType    int `flat:"device_type"`
	Platform      int `flat:"platform"`
	Player        int `flat:"player"`
	PlayerName    int `flat:"player_name"`
	MediaSource   int `flat:"media_source"`
	MediaType     int `flat:"media_type"`
	Container     int `flat:"container"`
	VideoCodec    int `flat:"video_codec"`
	AudioCodec    int `flat:"audio_codec"`
	DurationMs    int `flat:"duration_ms"`
	BitrateKbps   int `flat:"bitrate_kbps"`
	SizeBytes     int `flat:"size_bytes"`
	Width         int `flat:"width"`
	Height        int `flat:"height"`
	FilePath      int `flat:"file_path"`
	FileName      int `flat:"file_name"`
	LibraryName   int `flat:"library_name"`
	Title         int `flat:"title"`
	CatalogID     int `flat:"catalog_id"`
	PlaybackEvent int `flat:"playback_event"`
	PlayedMs      int `flat:"played_ms"`
	Decision      int `flat:"decision"`
}

type hostedLayout struct {
	common
	AccountID   int `flat:"account_id"`
	ZipCode     int `flat:"zip_code"`
	DeviceType  int `flat:"device_type"`
	Platform    int `flat:"platform"`
	ContentType int `flat:"content_type"`
	CatalogID   int `flat:"catalog_id"`
	Action      int `flat:"action"`
	AdPosition  int `flat:"ad_position"`
}

type marketingLayout struct {
	common
	AccountID  int `flat:"account_id"`
	Email      int `flat:"email"`
	CampaignID int `flat:"campaign_id"`
	Channel    int `flat:"channel"`
	Action     int `flat:"action"`
}

type crashLayout struct {
	common
	DeviceType    int `flat:"device_type"`
	Platform      int `flat:"platform"`
	Component     int `flat:"component"`
	ExceptionType int `flat:"exception_type"`
	StackHash     int `flat:"stack_hash"`
	FilePath      int `flat:"file_path"`
	StackTrace    int `flat:"stack_trace"`
	LogExcerpt    int `flat:"log_excerpt"`
}

type integrationLayout struct {
	common
	Integration   int `flat:"integration"`
	Action        int `flat:"action"`
	UserEnabled   int `flat:"user_enabled"`
	RemoteAccount int `flat:"remote_account"`
	WebhookURL    int `flat:"webhook_url"`
}

type serverinfoLayout struct {
	common
	Platform      int `flat:"platform"`
	OSVersion     int `flat:"os_version"`
	UpdateChannel int `flat:"update_channel"`
	CPUArch       int `flat:"cpu_arch"`
	TranscoderHW  int `flat:"transcoder_hw"`
	ServerName    int `flat:"server_name"`
}

// layouts of the newest raw schema of every kind the fleet makes.
type layouts struct {
	raw         map[string]*schemas.Schema // by kind: the schemas resolved
	playback    playbackLayout
	hosted      hostedLayout
	marketing   marketingLayout
	crash       crashLayout
	integration integrationLayout
	serverinfo  serverinfoLayout
}

// newLayouts resolves every layout against reg's newest raw schemas. A layout
// must name every field of its schema and only those: a field added to a raw
// schema must be given a value here before the fleet runs.
func newLayouts(reg *schemas.Registry) (*layouts, error) {
	l := &layouts{raw: map[string]*schemas.Schema{}}
	for kind, dst := range map[string]any{
		"playback": &l.playback, "hosted": &l.hosted, "marketing": &l.marketing,
		"crash": &l.crash, "integration": &l.integration, "serverinfo": &l.serverinfo,
	} {
		s := reg.Latest(schemas.Raw, kind)
		if s == nil {
			return nil, fmt.Errorf("simulate: no raw schema of kind %s", kind)
		}
		if err := resolve(s, reflect.ValueOf(dst).Elem()); err != nil {
			return nil, err
		}
		l.raw[kind] = s
	}
	return l, nil
}

// resolve sets every int field of the struct v (and of the structs it embeds)
// to the position of the schema field its flat tag names. Every field of the
// schema must be named.
func resolve(s *schemas.Schema, v reflect.Value) error {
	set := make([]bool, len(s.Fields))
	if err := place(s, v, set); err != nil {
		return err
	}
	var missing []string
	for j, ok := range set {
		if !ok {
			missing = append(missing, s.Fields[j].Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("simulate: the fleet gives no value to %s fields %s", s.Name, strings.Join(missing, ", "))
	}
	return nil
}

func place(s *schemas.Schema, v reflect.Value, set []bool) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			if err := place(s, v.Field(i), set); err != nil {
				return err
			}
			continue
		}
		name := f.Tag.Get("flat")
		j := s.Index(name)
		if j < 0 {
			return fmt.Errorf("simulate: %s has no field %q (layout field %s)", s.Name, name, f.Name)
		}
		v.Field(i).SetInt(int64(j))
		set[j] = true
	}
	return nil
}

// event is the flat record of one kind being filled, reused from event to event.
type event struct {
	s   *schemas.Schema
	v   []schemas.Value
	err error // the first symbol not in its enum
}

func (e *event) str(i int, s string)     { e.v[i].S = s }
func (e *event) num(i int, n int64)      { e.v[i].N = n }
func (e *event) time(i int, t time.Time) { e.v[i].N = t.UnixMilli() }

func (e *event) flag(i int, b bool) {
	e.v[i].N = 0
	if b {
		e.v[i].N = 1
	}
}

func (e *event) enum(i int, symbol string) {
	n := slices.Index(e.s.Symbols(i), symbol)
	if n < 0 && e.err == nil {
		e.err = fmt.Errorf("simulate: %s: %q is not a symbol of %s (%v)", e.s.Name, symbol, e.s.Fields[i].Name, e.s.Symbols(i))
	}
	e.v[i].N = int64(max(n, 0))
}
