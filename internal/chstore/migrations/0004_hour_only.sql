-- No time finer than the hour is kept: inserted_at held the second the sink
-- wrote a row, which tells when the event arrived to within the sink's batch
-- wait, finer than the event_hour the privacy policy keeps. It now holds the
-- hour of the insert (the dedup horizon and retention need no more), and the
-- rows already written are truncated too. Both statements can run again.

ALTER TABLE {{.DB}}.playback MODIFY COLUMN inserted_at DateTime DEFAULT toStartOfHour(now());
ALTER TABLE {{.DB}}.playback UPDATE inserted_at = toStartOfHour(inserted_at) WHERE inserted_at != toStartOfHour(inserted_at);

ALTER TABLE {{.DB}}.crash MODIFY COLUMN inserted_at DateTime DEFAULT toStartOfHour(now());
ALTER TABLE {{.DB}}.crash UPDATE inserted_at = toStartOfHour(inserted_at) WHERE inserted_at != toStartOfHour(inserted_at);

ALTER TABLE {{.DB}}.marketing MODIFY COLUMN inserted_at DateTime DEFAULT toStartOfHour(now());
ALTER TABLE {{.DB}}.marketing UPDATE inserted_at = toStartOfHour(inserted_at) WHERE inserted_at != toStartOfHour(inserted_at);

ALTER TABLE {{.DB}}.hosted MODIFY COLUMN inserted_at DateTime DEFAULT toStartOfHour(now());
ALTER TABLE {{.DB}}.hosted UPDATE inserted_at = toStartOfHour(inserted_at) WHERE inserted_at != toStartOfHour(inserted_at);

ALTER TABLE {{.DB}}.integration MODIFY COLUMN inserted_at DateTime DEFAULT toStartOfHour(now());
ALTER TABLE {{.DB}}.integration UPDATE inserted_at = toStartOfHour(inserted_at) WHERE inserted_at != toStartOfHour(inserted_at);

ALTER TABLE {{.DB}}.serverinfo MODIFY COLUMN inserted_at DateTime DEFAULT toStartOfHour(now());
ALTER TABLE {{.DB}}.serverinfo UPDATE inserted_at = toStartOfHour(inserted_at) WHERE inserted_at != toStartOfHour(inserted_at);
