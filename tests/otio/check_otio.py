"""Checks Studio Engine's OTIO export with the real OpenTimelineIO.

Usage: check_otio.py DIR

For every CASE.otio in DIR (written by crates/studio-core/tests/otio.rs) it reads the source
timeline CASE.project.json (the Project JSON) and CASE.media.json (what the export was told of
each asset id: {assetId: {name, durationSecs, rate, targetUrl}}; absent ids were unknown), loads
the export with `opentimelineio.adapters.read_from_string(..., "otio_json")`, and checks it
against expectations computed here from the Project JSON, independently of the Rust code:

- every OTIO object has exactly the fields opentimelineio itself writes for its schema;
- one track per track, in order, of the right kind ("Audio", else "Video"), named, muted =
  disabled;
- clips in start order with the expected names, `range_in_parent()` equal to start/duration,
  `source_range` starting at sourceStart, the media used (source duration x LinearTimeWarp
  time_scalar) equal to duration x speed, a warp exactly when speed != 1;
- media references: External with the URL when one was given, else Missing; available range =
  the asset's duration when known;
- gaps (all positive) adding up to the space the clips leave, and each track as long as its
  last clip's end;
- markers on the stack at their times, duration 0, named by label, with a valid OTIO colour
  (and the exact one for unambiguous colours);
- the timeline survives opentimelineio's own write/read round trip unchanged.

Times are compared in seconds within 1 ms. Prints one line per case; exits 1 if any failed.
"""

import json
import math
import sys
from pathlib import Path

import opentimelineio as otio

TOLERANCE_SECS = 1e-3
# A text clip without a name is named after the first line of its text, at most this long.
TEXT_NAME_CHARS = 60
# Colours whose nearest OTIO marker colour is not a matter of palette choice.
EXACT_COLORS = {
    "#ff0000": "RED",
    "#00ff00": "GREEN",
    "#0000ff": "BLUE",
    "#ffff00": "YELLOW",
    "#00ffff": "CYAN",
    "#ff00ff": "MAGENTA",
    "#000000": "BLACK",
    "#ffffff": "WHITE",
}
MARKER_COLORS = {
    getattr(otio.schema.MarkerColor, key)
    for key in dir(otio.schema.MarkerColor)
    if not key.startswith("_")
}


def reference_fields():
    """{schema: set of fields} as opentimelineio writes each schema the export uses."""
    rt = otio.opentime.RationalTime
    tr = otio.opentime.TimeRange
    timeline = otio.schema.Timeline(name="t", global_start_time=rt(0, 24))
    track = otio.schema.Track(name="v")
    timeline.tracks.append(track)
    track.append(otio.schema.Gap(source_range=tr(rt(0, 24), rt(1, 24))))
    clip = otio.schema.Clip(
        name="c",
        media_reference=otio.schema.ExternalReference(
            target_url="file:///c.mov", available_range=tr(rt(0, 24), rt(9, 24))
        ),
        source_range=tr(rt(0, 24), rt(2, 24)),
    )
    clip.effects.append(otio.schema.LinearTimeWarp(time_scalar=2.0))
    track.append(clip)
    track.append(
        otio.schema.Clip(
            name="m",
            media_reference=otio.schema.MissingReference(),
            source_range=tr(rt(0, 24), rt(2, 24)),
        )
    )
    timeline.tracks.markers.append(
        otio.schema.Marker(name="x", marked_range=tr(rt(0, 24), rt(0, 24)))
    )
    fields = {}
    for node in walk(json.loads(otio.adapters.write_to_string(timeline))):
        fields.setdefault(node["OTIO_SCHEMA"], set(node))
    return fields


def walk(value):
    """Every dict with an OTIO_SCHEMA inside `value`."""
    if isinstance(value, dict):
        if "OTIO_SCHEMA" in value:
            yield value
        for child in value.values():
            yield from walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from walk(child)


def expected_name(clip, asset):
    """The clip's name, else its asset's, else the first line of its text, else its id."""
    if (clip.get("name") or "").strip():
        return clip["name"]
    if asset and (asset.get("name") or "").strip():
        return asset["name"]
    for line in (clip.get("text") or "").split("\n"):
        if line.strip():
            return line.strip()[:TEXT_NAME_CHARS]
    return clip["id"]


class Case:
    def __init__(self, name):
        self.name = name
        self.errors = []

    def expect(self, condition, message):
        if not condition:
            self.errors.append(message)
        return condition

    def close(self, actual, expected, what):
        self.expect(
            math.isfinite(actual) and abs(actual - expected) <= TOLERANCE_SECS,
            f"{what}: {actual!r} s, expected {expected!r} s",
        )


def check(case, text, project, media, fields):
    document = json.loads(text)
    for node in walk(document):
        schema = node["OTIO_SCHEMA"]
        if case.expect(schema in fields, f"unexpected schema {schema}"):
            case.expect(
                set(node) == fields[schema],
                f"{schema} fields {sorted(node)}, opentimelineio writes {sorted(fields[schema])}",
            )

    timeline = otio.adapters.read_from_string(text, "otio_json")
    if not case.expect(isinstance(timeline, otio.schema.Timeline), "not a Timeline"):
        return
    case.expect(timeline.name == project["name"], f"timeline name {timeline.name!r}")
    start = timeline.global_start_time
    case.expect(start is None or start.value == 0, f"global_start_time {start}")
    studio = timeline.metadata["studio"]
    for key in ("fps", "width", "height", "sampleRate"):
        case.expect(studio[key] == project[key], f"metadata.studio.{key} {studio[key]!r}")

    stack = timeline.tracks
    tracks = list(stack)
    case.expect(
        len(tracks) == len(project["tracks"]),
        f"{len(tracks)} tracks, expected {len(project['tracks'])}",
    )
    for track, ours in zip(tracks, project["tracks"]):
        check_track(case, track, ours, media)

    markers = list(stack.markers)
    case.expect(
        len(markers) == len(project.get("markers", [])),
        f"{len(markers)} markers on the stack",
    )
    for marker, ours in zip(markers, project.get("markers", [])):
        where = f"marker {ours['id']}"
        case.close(marker.marked_range.start_time.to_seconds(), ours["time"], f"{where} time")
        case.expect(marker.marked_range.duration.value == 0, f"{where} has a duration")
        case.expect(marker.name == ours.get("label", ""), f"{where} name {marker.name!r}")
        case.expect(marker.color in MARKER_COLORS, f"{where} colour {marker.color!r}")
        exact = EXACT_COLORS.get((ours.get("color") or "")[:7].lower())
        if exact:
            case.expect(marker.color == exact, f"{where} colour {marker.color}, not {exact}")
    for track in tracks:
        case.expect(not list(track.markers), f"track {track.name!r} has markers")

    again = otio.adapters.read_from_string(
        otio.adapters.write_to_string(timeline), "otio_json"
    )
    case.expect(again.is_equivalent_to(timeline), "changed by a write/read round trip")


def check_track(case, track, ours, media):
    where = f"track {ours['id']}"
    if not case.expect(isinstance(track, otio.schema.Track), f"{where} is not a Track"):
        return
    kind = "Audio" if ours["kind"] == "audio" else "Video"
    case.expect(track.kind == kind, f"{where} kind {track.kind!r}, expected {kind}")
    case.expect(track.name == ours["name"], f"{where} name {track.name!r}")
    case.expect(track.enabled == (not ours["muted"]), f"{where} enabled {track.enabled}")

    items = list(track)
    clips = [item for item in items if isinstance(item, otio.schema.Clip)]
    gaps = [item for item in items if isinstance(item, otio.schema.Gap)]
    case.expect(
        len(clips) + len(gaps) == len(items), f"{where} holds more than clips and gaps"
    )
    expected = sorted(ours["clips"], key=lambda clip: clip["start"])
    case.expect(
        len(clips) == len(expected), f"{where}: {len(clips)} clips, expected {len(expected)}"
    )
    for clip, ours_clip in zip(clips, expected):
        check_clip(case, f"{where} clip {ours_clip['id']}", clip, ours_clip, ours, media)

    space, end = 0.0, 0.0
    for clip in expected:
        space += clip["start"] - end
        end = clip["start"] + clip["duration"]
    for gap in gaps:
        case.expect(gap.duration().value > 0, f"{where} has an empty gap")
    case.close(sum(gap.duration().to_seconds() for gap in gaps), space, f"{where} gaps")
    case.close(track.duration().to_seconds(), end, f"{where} duration")


def check_clip(case, where, clip, ours, track, media):
    case.expect(clip.metadata["studio"]["id"] == ours["id"], f"{where} metadata id")
    asset = media.get(ours["assetId"]) if "assetId" in ours else None
    name = expected_name(ours, asset)
    case.expect(clip.name == name, f"{where} name {clip.name!r}, expected {name!r}")

    placed = clip.range_in_parent()
    case.close(placed.start_time.to_seconds(), ours["start"], f"{where} start")
    case.close(placed.duration.to_seconds(), ours["duration"], f"{where} duration")

    source = clip.source_range
    case.close(source.start_time.to_seconds(), ours.get("sourceStart", 0), f"{where} source start")
    speed = ours.get("speed", 1)
    warps = [e for e in clip.effects if isinstance(e, otio.schema.LinearTimeWarp)]
    case.expect(
        len(warps) == (0 if speed == 1 else 1), f"{where}: {len(warps)} time warps at speed {speed}"
    )
    scalar = math.prod(warp.time_scalar for warp in warps)
    case.close(
        source.duration.to_seconds() * scalar,
        ours["duration"] * speed,
        f"{where} media used (source duration x time_scalar)",
    )

    reference = clip.media_reference
    if asset and asset.get("targetUrl"):
        if case.expect(
            isinstance(reference, otio.schema.ExternalReference),
            f"{where} reference {type(reference).__name__}, expected ExternalReference",
        ):
            case.expect(reference.target_url == asset["targetUrl"], f"{where} target_url")
    else:
        case.expect(
            isinstance(reference, otio.schema.MissingReference),
            f"{where} reference {type(reference).__name__}, expected MissingReference",
        )
    duration = asset.get("durationSecs") if asset else None
    available = reference.available_range
    if duration:
        if case.expect(available is not None, f"{where} has no available_range"):
            case.close(available.start_time.to_seconds(), 0, f"{where} available start")
            case.close(available.duration.to_seconds(), duration, f"{where} available duration")
            case.expect(
                ours.get("sourceStart", 0) + ours["duration"] * speed
                <= available.duration.to_seconds() + TOLERANCE_SECS,
                f"{where} uses media past the asset's end",
            )
    else:
        case.expect(available is None, f"{where} available_range {available}")

    if track["kind"] == "text":
        case.expect(clip.metadata["studio"].get("text") == ours["text"], f"{where} text")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    directory = Path(sys.argv[1])
    fields = reference_fields()
    cases = sorted(directory.glob("*.otio"))
    if not cases:
        sys.exit(f"no .otio files in {directory}")
    failed = 0
    for path in cases:
        name = path.name.removesuffix(".otio")
        case = Case(name)
        project = json.loads((directory / f"{name}.project.json").read_text())
        media = json.loads((directory / f"{name}.media.json").read_text())
        try:
            check(case, path.read_text(), project, media, fields)
        except Exception as error:  # a load error is this case's failure, not the run's end
            case.errors.append(f"{type(error).__name__}: {error}")
        if case.errors:
            failed += 1
            print(f"FAIL {name}")
            for error in case.errors:
                print(f"  {error}")
        else:
            print(f"ok   {name}")
    print(f"opentimelineio {otio.__version__}: {len(cases) - failed} of {len(cases)} cases ok")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
