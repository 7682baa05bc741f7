// Compile-time checks, run by test/check.mjs (`tsc --noEmit`): the types json-schema-to-typescript
// writes (src/project.ts) and the type the Zod schema infers (src/project.zod.ts) describe the
// same documents, so data parsed with the Zod schema can be used as a `Project` and back.
import type { z } from "zod";
import type { Clip, Project, TextStyle, Track } from "../src/project.js";
import type { projectSchema } from "../src/project.zod.js";

/** `true` when each of `A` and `B` is assignable to the other. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

type Parsed = z.infer<typeof projectSchema>;
type ParsedTrack = Parsed["tracks"][number];
type ParsedClip = ParsedTrack["clips"][number];

export const projectsAgree: Same<Project, Parsed> = true;
export const tracksAgree: Same<Track, ParsedTrack> = true;
export const clipsAgree: Same<Clip, ParsedClip> = true;
export const stylesAgree: Same<TextStyle, NonNullable<ParsedClip["style"]>> = true;

// The types are closed: a misspelt field is a compile error, as it is a 422 from the server.
export const closed: Track = {
  id: "v1",
  kind: "video",
  name: "Video 1",
  muted: false,
  locked: false,
  clips: [
    // @ts-expect-error `startt` is not a clip field
    { id: "c1", assetId: "ast_0000000000000000000000000v", startt: 0, duration: 1 },
  ],
};
