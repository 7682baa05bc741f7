/* Generated from project.schema.json (`studio schema`) by scripts/gen-clients.sh.
 * Do not edit: change the Rust model (crates/studio-core/src/timeline/model.rs) and regenerate. */

import { z } from "zod";

export const projectSchema = z
  .object({
    fps: z
      .number()
      .gte(1)
      .lte(240)
      .describe(
        "Frames per second of the output (e.g. 24, 25, 29.97, 30, 60).",
      ),
    height: z
      .number()
      .int()
      .gte(16)
      .lte(8192)
      .describe("Output height in pixels."),
    markers: z
      .array(
        z
          .object({
            color: z
              .string()
              .regex(new RegExp("^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$"))
              .describe("`#rrggbb` or `#rrggbbaa`.")
              .optional(),
            id: z
              .string()
              .regex(new RegExp("^[A-Za-z0-9_-]{1,64}$"))
              .describe("Unique across the document."),
            label: z.string().max(200).optional(),
            time: z
              .number()
              .gte(0)
              .describe("Where the marker is, in seconds."),
          })
          .strict()
          .describe("A named point on the timeline."),
      )
      .describe("Points of interest on the timeline.")
      .optional(),
    name: z
      .string()
      .min(1)
      .max(200)
      .describe(
        "The project's display name inside the timeline (export metadata).",
      ),
    sampleRate: z
      .number()
      .int()
      .gte(8000)
      .lte(192000)
      .describe("Audio sample rate of the output, in Hz (e.g. 44100, 48000)."),
    schemaVersion: z
      .literal(1)
      .describe(
        "The format version of this document. Always 1 for now; a server that reads version 2\nupgrades version 1 documents itself.",
      ),
    tracks: z
      .array(
        z
          .object({
            clips: z
              .array(
                z
                  .object({
                    assetId: z
                      .string()
                      .regex(new RegExp("^ast_[0-9a-hjkmnp-tv-z]{26}$"))
                      .describe(
                        "The asset this clip plays (`ast_…`); required on video and audio tracks, absent on text\ntracks. It must be an asset of this project that is not deleted.",
                      )
                      .optional(),
                    duration: z
                      .number()
                      .gt(0)
                      .describe(
                        "How long the clip lasts on the timeline, in seconds (more than 0).",
                      ),
                    fadeIn: z
                      .number()
                      .gte(0)
                      .describe(
                        "Fade in from the clip's start, in seconds (picture and sound).",
                      )
                      .optional(),
                    fadeOut: z
                      .number()
                      .gte(0)
                      .describe(
                        "Fade out to the clip's end, in seconds. `fadeIn + fadeOut` must not exceed `duration`.",
                      )
                      .optional(),
                    id: z
                      .string()
                      .regex(new RegExp("^[A-Za-z0-9_-]{1,64}$"))
                      .describe("Unique across the document."),
                    name: z
                      .string()
                      .max(200)
                      .describe(
                        "Display name (defaults to the asset's file name in the editor).",
                      )
                      .optional(),
                    sourceStart: z
                      .number()
                      .gte(0)
                      .describe(
                        "Where in the asset the clip starts, in seconds of the asset's own time (0 if absent).\n`sourceStart + duration × speed` must not pass the end of the asset.",
                      )
                      .optional(),
                    speed: z
                      .number()
                      .gte(0.0625)
                      .lte(16)
                      .describe(
                        "Playback speed: 2 plays twice as fast (using twice as much of the asset). 1 if absent.",
                      )
                      .optional(),
                    start: z
                      .number()
                      .gte(0)
                      .describe(
                        "Where the clip starts on the timeline, in seconds.",
                      ),
                    style: z
                      .object({
                        align: z
                          .enum(["left", "center", "right"])
                          .describe("Horizontal alignment of a text.")
                          .optional(),
                        backgroundColor: z
                          .string()
                          .regex(
                            new RegExp("^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$"),
                          )
                          .describe("`#rrggbb` or `#rrggbbaa` behind the text.")
                          .optional(),
                        bold: z.boolean().optional(),
                        color: z
                          .string()
                          .regex(
                            new RegExp("^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$"),
                          )
                          .describe("`#rrggbb` or `#rrggbbaa`.")
                          .optional(),
                        fontFamily: z
                          .string()
                          .min(1)
                          .max(100)
                          .describe("A CSS font family name.")
                          .optional(),
                        fontSize: z
                          .number()
                          .gte(1)
                          .lte(1000)
                          .describe("Font size in output pixels.")
                          .optional(),
                        italic: z.boolean().optional(),
                        x: z
                          .number()
                          .gte(0)
                          .lte(1)
                          .describe(
                            "Horizontal position of the text's anchor, 0 (left edge) to 1 (right edge).",
                          )
                          .optional(),
                        y: z
                          .number()
                          .gte(0)
                          .lte(1)
                          .describe(
                            "Vertical position of the text's anchor, 0 (top) to 1 (bottom).",
                          )
                          .optional(),
                      })
                      .strict()
                      .describe("How a text clip looks; only on text tracks.")
                      .optional(),
                    text: z
                      .string()
                      .min(1)
                      .max(10000)
                      .describe(
                        "The text of a text clip; required on text tracks, absent elsewhere.",
                      )
                      .optional(),
                    volume: z
                      .number()
                      .gte(0)
                      .lte(4)
                      .describe(
                        "Linear gain of the clip's sound: 0 silent, 1 as recorded (the default), up to 4.",
                      )
                      .optional(),
                  })
                  .strict()
                  .describe(
                    "A clip: a piece of an asset (video and audio tracks) or a text (text tracks) placed on the\ntimeline from `start` for `duration` seconds.",
                  ),
              )
              .describe(
                "The track's clips, in any order (the server sorts nothing).",
              ),
            id: z
              .string()
              .regex(new RegExp("^[A-Za-z0-9_-]{1,64}$"))
              .describe("Unique across the document."),
            kind: z
              .enum(["video", "audio", "text"])
              .describe(
                "What a track holds: `video` (video and image assets), `audio` (audio assets, or video assets\nfor their sound) or `text` (text clips: titles, captions; no assets).",
              ),
            locked: z
              .boolean()
              .describe(
                "A locked track is not editable in the editor (the server stores it as is).",
              ),
            muted: z
              .boolean()
              .describe(
                "A muted track is not heard (audio) or seen (video, text) in the output.",
              ),
            name: z.string().max(200).describe("Display name."),
          })
          .strict()
          .describe("A track: clips of one kind, which must not overlap."),
      )
      .describe(
        "Tracks, bottom to top for video (later tracks draw over earlier ones).",
      ),
    width: z
      .number()
      .int()
      .gte(16)
      .lte(8192)
      .describe("Output width in pixels."),
  })
  .strict()
  .describe(
    "A project's timeline: its format, its tracks of clips, and markers.",
  );
