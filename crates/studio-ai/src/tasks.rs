//! Server-side prompt templates: the frontend names a task (`video-ideas`, `script`, `titles`)
//! and the backend writes the instructions, with the project's name and a summary of its
//! timeline as context. Prompts stay out of the frontend (where anyone could read or change
//! them), and the context is what the server knows, not what a client claims.

use std::fmt::Write as _;

use serde::Deserialize;
use studio_core::timeline::{Project, TrackKind};

use crate::{ChatMessage, Role};

/// The tasks with a server-side template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    VideoIdeas,
    Script,
    Titles,
}

impl Task {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VideoIdeas => "video-ideas",
            Self::Script => "script",
            Self::Titles => "titles",
        }
    }

    fn instructions(self) -> &'static str {
        match self {
            Self::VideoIdeas => {
                "You are a creative producer helping a video creator. Suggest five distinct, \
                 concrete ideas for videos or segments that fit the project described below. \
                 For each: a one-line hook, the format, and why it suits this material."
            }
            Self::Script => {
                "You are a scriptwriter for short online videos. Write a script for the project \
                 described below: a hook in the first five seconds, clear sections matched to the \
                 timeline's length, and lines meant to be spoken aloud."
            }
            Self::Titles => {
                "You are an editor who writes titles for online videos. Propose ten titles for the \
                 project described below: specific, honest about the content, under 70 \
                 characters each, one per line."
            }
        }
    }

    /// What the user asks when the request brings no message of its own.
    fn default_request(self) -> &'static str {
        match self {
            Self::VideoIdeas => "Give me ideas for this project.",
            Self::Script => "Write the script.",
            Self::Titles => "Suggest titles.",
        }
    }
}

/// The project a task is about, as the server read it.
#[derive(Debug, Clone)]
pub struct ProjectContext {
    pub name: String,
    pub timeline: Project,
}

/// The messages sent to the provider for `task`: the template as a system message first, then
/// the caller's messages (or the task's default request when there are none).
pub fn apply(
    task: Task,
    context: Option<&ProjectContext>,
    messages: Vec<ChatMessage>,
) -> Vec<ChatMessage> {
    let mut system = task.instructions().to_owned();
    match context {
        Some(context) => {
            let _ = write!(
                system,
                "\n\nProject: {}\n{}",
                context.name,
                summary(&context.timeline)
            );
        }
        None => system.push_str("\n\nNo project was given; ask for what you need to know."),
    }
    let mut out = vec![ChatMessage {
        role: Role::System,
        content: system,
    }];
    if messages.is_empty() {
        out.push(ChatMessage {
            role: Role::User,
            content: task.default_request().to_owned(),
        });
    } else {
        out.extend(messages);
    }
    out
}

/// Most marker labels and text clips quoted in a summary, so a huge timeline does not make a
/// huge prompt.
const MAX_QUOTED: usize = 20;

/// A few lines a model can use: length, format, tracks, and the words already on the timeline.
pub fn summary(timeline: &Project) -> String {
    let end = timeline
        .tracks
        .iter()
        .flat_map(|track| &track.clips)
        .map(|clip| clip.end())
        .fold(0.0_f64, f64::max);
    let mut out = format!(
        "Timeline: {:.1} s long, {}x{} at {} fps, {} track(s).",
        end,
        timeline.width,
        timeline.height,
        timeline.fps,
        timeline.tracks.len()
    );
    for kind in [TrackKind::Video, TrackKind::Audio, TrackKind::Text] {
        let tracks = timeline.tracks.iter().filter(|t| t.kind == kind);
        let (count, clips) = tracks.fold((0, 0), |(n, c), t| (n + 1, c + t.clips.len()));
        if count > 0 {
            let _ = write!(
                out,
                "\n- {count} {} track(s), {clips} clip(s)",
                kind.as_str()
            );
        }
    }
    let texts: Vec<&str> = timeline
        .tracks
        .iter()
        .flat_map(|track| &track.clips)
        .filter_map(|clip| clip.text.as_deref())
        .take(MAX_QUOTED)
        .collect();
    if !texts.is_empty() {
        let _ = write!(out, "\nOn-screen text: {}", quoted(&texts));
    }
    let markers: Vec<&str> = timeline
        .markers
        .iter()
        .filter_map(|marker| marker.label.as_deref())
        .take(MAX_QUOTED)
        .collect();
    if !markers.is_empty() {
        let _ = write!(out, "\nMarkers: {}", quoted(&markers));
    }
    out
}

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|item| format!("{item:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline() -> Project {
        serde_json::from_value(serde_json::json!({
            "schemaVersion": 1, "name": "Trip", "fps": 30, "width": 1920, "height": 1080,
            "sampleRate": 48000,
            "tracks": [
                {"id": "v", "kind": "video", "name": "V", "muted": false, "locked": false,
                 "clips": [{"id": "c1", "start": 0, "duration": 12.5}]},
                {"id": "t", "kind": "text", "name": "T", "muted": false, "locked": false,
                 "clips": [{"id": "c2", "start": 1, "duration": 2, "text": "Day one"}]}
            ],
            "markers": [{"id": "m", "time": 3, "label": "Summit"}]
        }))
        .unwrap()
    }

    #[test]
    fn the_template_comes_first_with_the_project_context() {
        let context = ProjectContext {
            name: "Alps".into(),
            timeline: timeline(),
        };
        let messages = apply(Task::Titles, Some(&context), Vec::new());
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].role, Role::System);
        let system = &messages[0].content;
        for part in [
            "titles",
            "Project: Alps",
            "12.5 s",
            "1920x1080",
            "1 video track(s), 1 clip(s)",
            "\"Day one\"",
            "\"Summit\"",
        ] {
            assert!(system.contains(part), "{part} missing from {system}");
        }
        assert_eq!(messages[1].content, "Suggest titles.");

        let own = vec![ChatMessage {
            role: Role::User,
            content: "Shorter".into(),
        }];
        let messages = apply(Task::Script, None, own.clone());
        assert_eq!(messages[1..], own[..]);
        assert!(messages[0].content.contains("No project was given"));
    }
}
