//! The Claude Code adapter (`claude`).
//!
//! Classifies Markdown files by the segment after the last `.claude/` in the path — or, when the
//! path has no `.claude/`, by its first segment, so that scanning an agent home (`~/.claude`) or a
//! plugin layout classifies the same way:
//!
//! | segment | kind |
//! |---|---|
//! | `skills/` (any `.md` inside a skill directory) | `skill` |
//! | `agents/` (recursive) | `agent` |
//! | `commands/` (recursive) | `command` |
//! | `hooks/` | `hook` |
//! | anything else ending in `.md` | `note` |

use sm_kernel::extensions::{Adapter, ExtensionInfo, ExtensionKind};

/// The built-in Claude Code adapter.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClaudeAdapter;

impl Adapter for ClaudeAdapter {
    fn info(&self) -> ExtensionInfo {
        crate::builtin_info(
            "claude",
            ExtensionKind::Adapter,
            "Claude Code layout: skills, agents, commands, hooks; every other .md is a note",
        )
    }

    fn classify(&self, path: &str) -> Option<String> {
        let file = path.rsplit('/').next().unwrap_or(path);
        let is_md = file.len() > 3 && file[file.len() - 3..].eq_ignore_ascii_case(".md");
        if !is_md {
            return None;
        }
        let rest = match path.rfind(".claude/") {
            Some(i) if i == 0 || path.as_bytes()[i - 1] == b'/' => &path[i + ".claude/".len()..],
            _ => path,
        };
        let (first, remainder) = rest.split_once('/').unwrap_or(("", rest));
        let kind = match first {
            "skills" if remainder.contains('/') => "skill",
            "agents" => "agent",
            "commands" => "command",
            "hooks" => "hook",
            _ => "note",
        };
        Some(kind.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(p: &str) -> Option<String> {
        ClaudeAdapter.classify(p)
    }

    #[test]
    fn classifies_project_and_home_layouts() {
        assert_eq!(kind(".claude/skills/pdf/SKILL.md").as_deref(), Some("skill"));
        assert_eq!(kind(".claude/skills/pdf/reference/forms.md").as_deref(), Some("skill"));
        assert_eq!(kind(".claude/agents/group/reviewer.md").as_deref(), Some("agent"));
        assert_eq!(kind(".claude/commands/git/commit.md").as_deref(), Some("command"));
        assert_eq!(kind(".claude/hooks/pre.md").as_deref(), Some("hook"));
        assert_eq!(kind("nested/x/.claude/agents/a.md").as_deref(), Some("agent"));
        assert_eq!(kind("skills/hello/SKILL.md").as_deref(), Some("skill"));
        assert_eq!(kind("agents/reviewer.md").as_deref(), Some("agent"));
        assert_eq!(kind("notes/architecture.md").as_deref(), Some("note"));
        assert_eq!(kind("README.md").as_deref(), Some("note"));
        assert_eq!(kind("docs/agents/x.md").as_deref(), Some("note"));
        assert_eq!(kind("my.claude/agents/x.md").as_deref(), Some("note"));
        assert_eq!(kind(".claude/settings.json"), None);
        assert_eq!(kind("script.py"), None);
    }
}
