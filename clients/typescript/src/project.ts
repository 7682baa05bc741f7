/* Generated from project.schema.json (`studio schema`) by scripts/gen-clients.sh.
 * Do not edit: change the Rust model (crates/studio-core/src/timeline/model.rs) and regenerate. */

/**
 * Horizontal alignment of a text.
 */
export type TextAlign = "left" | "center" | "right";
/**
 * What a track holds: `video` (video and image assets), `audio` (audio assets, or video assets
 * for their sound) or `text` (text clips: titles, captions; no assets).
 */
export type TrackKind = "video" | "audio" | "text";

/**
 * A project's timeline: its format, its tracks of clips, and markers.
 */
export interface Project {
  /**
   * Frames per second of the output (e.g. 24, 25, 29.97, 30, 60).
   */
  fps: number;
  /**
   * Output height in pixels.
   */
  height: number;
  /**
   * Points of interest on the timeline.
   */
  markers?: Marker[];
  /**
   * The project's display name inside the timeline (export metadata).
   */
  name: string;
  /**
   * Audio sample rate of the output, in Hz (e.g. 44100, 48000).
   */
  sampleRate: number;
  /**
   * The format version of this document. Always 1 for now; a server that reads version 2
   * upgrades version 1 documents itself.
   */
  schemaVersion: 1;
  /**
   * Tracks, bottom to top for video (later tracks draw over earlier ones).
   */
  tracks: Track[];
  /**
   * Output width in pixels.
   */
  width: number;
}
/**
 * A named point on the timeline.
 */
export interface Marker {
  /**
   * `#rrggbb` or `#rrggbbaa`.
   */
  color?: string;
  /**
   * Unique across the document.
   */
  id: string;
  label?: string;
  /**
   * Where the marker is, in seconds.
   */
  time: number;
}
/**
 * A track: clips of one kind, which must not overlap.
 */
export interface Track {
  /**
   * The track's clips, in any order (the server sorts nothing).
   */
  clips: Clip[];
  /**
   * Unique across the document.
   */
  id: string;
  kind: TrackKind;
  /**
   * A locked track is not editable in the editor (the server stores it as is).
   */
  locked: boolean;
  /**
   * A muted track is not heard (audio) or seen (video, text) in the output.
   */
  muted: boolean;
  /**
   * Display name.
   */
  name: string;
}
/**
 * A clip: a piece of an asset (video and audio tracks) or a text (text tracks) placed on the
 * timeline from `start` for `duration` seconds.
 */
export interface Clip {
  /**
   * The asset this clip plays (`ast_…`); required on video and audio tracks, absent on text
   * tracks. It must be an asset of this project that is not deleted.
   */
  assetId?: string;
  /**
   * How long the clip lasts on the timeline, in seconds (more than 0).
   */
  duration: number;
  /**
   * Fade in from the clip's start, in seconds (picture and sound).
   */
  fadeIn?: number;
  /**
   * Fade out to the clip's end, in seconds. `fadeIn + fadeOut` must not exceed `duration`.
   */
  fadeOut?: number;
  /**
   * Unique across the document.
   */
  id: string;
  /**
   * Display name (defaults to the asset's file name in the editor).
   */
  name?: string;
  /**
   * Where in the asset the clip starts, in seconds of the asset's own time (0 if absent).
   * `sourceStart + duration × speed` must not pass the end of the asset.
   */
  sourceStart?: number;
  /**
   * Playback speed: 2 plays twice as fast (using twice as much of the asset). 1 if absent.
   */
  speed?: number;
  /**
   * Where the clip starts on the timeline, in seconds.
   */
  start: number;
  style?: TextStyle;
  /**
   * The text of a text clip; required on text tracks, absent elsewhere.
   */
  text?: string;
  /**
   * Linear gain of the clip's sound: 0 silent, 1 as recorded (the default), up to 4.
   */
  volume?: number;
}
/**
 * How a text clip looks; only on text tracks.
 */
export interface TextStyle {
  align?: TextAlign;
  /**
   * `#rrggbb` or `#rrggbbaa` behind the text.
   */
  backgroundColor?: string;
  bold?: boolean;
  /**
   * `#rrggbb` or `#rrggbbaa`.
   */
  color?: string;
  /**
   * A CSS font family name.
   */
  fontFamily?: string;
  /**
   * Font size in output pixels.
   */
  fontSize?: number;
  italic?: boolean;
  /**
   * Horizontal position of the text's anchor, 0 (left edge) to 1 (right edge).
   */
  x?: number;
  /**
   * Vertical position of the text's anchor, 0 (top) to 1 (bottom).
   */
  y?: number;
}
