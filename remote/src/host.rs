//! Boards as ssh destinations: `[USER@]HOST[:PORT]` or an ssh_config alias, one at a time or
//! from a hosts file, which may be a plain list (one host per line, `#` comments) or an Ansible
//! INI inventory (groups, `:children`, `:vars`, `ansible_host`/`ansible_port`/`ansible_user`).

use std::collections::{BTreeMap, BTreeSet};

use crate::RemoteError;

/// One board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// What the user calls it: the spec as written, or the inventory alias.
    pub name: String,
    /// What ssh gets as its destination: `user@address` or an ssh_config alias.
    pub destination: String,
    pub port: Option<u16>,
}

impl Host {
    /// `[USER@]HOST[:PORT]`, `[USER@][V6ADDR]:PORT`, or an ssh_config alias.
    pub fn parse(spec: &str) -> Result<Host, RemoteError> {
        let bad = |why: &str| RemoteError::BadHost {
            spec: spec.to_string(),
            why: why.to_string(),
        };
        if spec.is_empty() {
            return Err(bad("empty"));
        }
        // ssh would read a destination that starts with '-' as an option (-oProxyCommand=…).
        if spec.starts_with('-') {
            return Err(bad("a host cannot start with '-'"));
        }
        if spec.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("a host has no spaces or control characters"));
        }
        let (user, rest) = match spec.rsplit_once('@') {
            Some((u, r)) if !u.is_empty() => (Some(u), r),
            Some(_) => return Err(bad("empty user name before '@'")),
            None => (None, spec),
        };
        let (address, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (addr, after) = inner
                .split_once(']')
                .ok_or_else(|| bad("'[' without ']'"))?;
            match after {
                "" => (addr, None),
                _ => match after.strip_prefix(':') {
                    Some(p) => (addr, Some(p)),
                    None => return Err(bad("expected ':PORT' after ']'")),
                },
            }
        } else if rest.matches(':').count() == 1 {
            let (a, p) = rest.split_once(':').unwrap();
            (a, Some(p))
        } else {
            // No colon, or a bare IPv6 address.
            (rest, None)
        };
        if address.is_empty() {
            return Err(bad("no host name"));
        }
        let port = port
            .map(|p| parse_port(p).map_err(|w| bad(&w)))
            .transpose()?;
        let destination = match user {
            Some(u) => format!("{u}@{address}"),
            None => address.to_string(),
        };
        Ok(Host {
            name: spec.to_string(),
            destination,
            port,
        })
    }

    /// The host's name as a directory name under the local state directory.
    pub fn dir_name(&self) -> String {
        let s: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._@-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        match s.as_str() {
            "." | ".." => format!("_{s}"),
            _ => s,
        }
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("port '{p}' is not a number from 1 to 65535")),
        Ok(n) => Ok(n),
    }
}

/// Ansible's connection variables, old and new spellings.
const HOST_VARS: [&str; 2] = ["ansible_host", "ansible_ssh_host"];
const PORT_VARS: [&str; 2] = ["ansible_port", "ansible_ssh_port"];
const USER_VARS: [&str; 2] = ["ansible_user", "ansible_ssh_user"];

#[derive(Default)]
struct Inventory {
    /// Hosts in order of first appearance.
    order: Vec<String>,
    host_vars: BTreeMap<String, BTreeMap<String, String>>,
    /// group → its direct hosts, in order.
    members: BTreeMap<String, Vec<String>>,
    children: BTreeMap<String, Vec<String>>,
    group_vars: BTreeMap<String, BTreeMap<String, String>>,
}

enum Section {
    Hosts(String),
    Children(String),
    Vars(String),
}

/// A hosts file: a plain list or an Ansible INI inventory (the plain list is the INI grammar
/// without sections). `group` picks one group (with its children); `None` takes every host.
pub fn parse_inventory(
    text: &str,
    path: &str,
    group: Option<&str>,
) -> Result<Vec<Host>, RemoteError> {
    let err = |line: usize, message: String| RemoteError::Inventory {
        path: path.to_string(),
        line,
        message,
    };
    let mut inv = Inventory::default();
    let mut section = Section::Hosts("ungrouped".into());
    for (i, raw) in text.lines().enumerate() {
        // Ansible reads `# …` after whitespace as a comment too.
        let line = match raw.find(" #").or_else(|| raw.find("\t#")) {
            Some(at) => raw[..at].trim(),
            None => raw.trim(),
        };
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = section_header(line) {
            let (name, kind) = header.split_once(':').unwrap_or((header, ""));
            section = match kind {
                "" => Section::Hosts(name.into()),
                "children" => Section::Children(name.into()),
                "vars" => Section::Vars(name.into()),
                other => return Err(err(i + 1, format!("unknown section kind ':{other}'"))),
            };
            inv.members.entry(name.into()).or_default();
            continue;
        }
        inv.add_line(&section, line).map_err(|m| err(i + 1, m))?;
    }
    let chosen = inv.chosen(group).map_err(|m| err(0, m))?;
    if chosen.is_empty() {
        return Err(err(0, "no hosts".into()));
    }
    chosen
        .iter()
        .map(|alias| inv.host(alias).map_err(|m| err(0, m)))
        .collect()
}

impl Inventory {
    /// One line of a section's body: a group variable, a child group, or a host with its
    /// variables.
    fn add_line(&mut self, section: &Section, line: &str) -> Result<(), String> {
        let mut tokens = line.split_whitespace();
        let first = tokens.next().unwrap_or_default();
        match section {
            Section::Vars(g) => {
                let (k, v) = key_value(line)?;
                self.group_vars.entry(g.clone()).or_default().insert(k, v);
            }
            Section::Children(g) => {
                self.children
                    .entry(g.clone())
                    .or_default()
                    .push(first.to_string());
            }
            Section::Hosts(g) => {
                if first.contains('=') {
                    return Err(format!("'{first}': a variable without a host"));
                }
                if first.contains('[') && !first.starts_with('[') {
                    return Err(format!(
                        "'{first}': host ranges are not supported; list the hosts one per line"
                    ));
                }
                let vars = self.host_vars.entry(first.to_string()).or_default();
                for t in tokens {
                    let (k, v) = key_value(t)?;
                    vars.insert(k, v);
                }
                if !self.order.iter().any(|h| h == first) {
                    self.order.push(first.to_string());
                }
                self.members
                    .entry(g.clone())
                    .or_default()
                    .push(first.to_string());
            }
        }
        Ok(())
    }

    /// The hosts of `group` (every host for none or `all`), in the file's order.
    fn chosen(&self, group: Option<&str>) -> Result<Vec<String>, String> {
        let g = match group {
            None | Some("all") => return Ok(self.order.clone()),
            Some(g) => g,
        };
        if !self.members.contains_key(g) && !self.children.contains_key(g) {
            let known: Vec<&str> = self
                .members
                .keys()
                .filter(|k| *k != "ungrouped")
                .map(String::as_str)
                .collect();
            return Err(format!("no group '{g}' (groups: {})", list_or_none(&known)));
        }
        let hosts = self.hosts_of(g);
        Ok(self
            .order
            .iter()
            .filter(|h| hosts.contains(*h))
            .cloned()
            .collect())
    }
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// `[name]`, `[name:children]`, `[name:vars]`; a bracketed IPv6 host (`[::1]:22`) is not one.
fn section_header(line: &str) -> Option<&str> {
    let inner = line.strip_prefix('[')?.strip_suffix(']')?;
    let (name, kind) = inner.split_once(':').unwrap_or((inner, ""));
    let name_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let kind_ok = kind.is_empty() || kind.chars().all(|c| c.is_ascii_alphabetic());
    (name_ok && kind_ok).then_some(inner)
}

fn key_value(token: &str) -> Result<(String, String), String> {
    let (k, v) = token
        .split_once('=')
        .ok_or_else(|| format!("'{token}': expected key=value"))?;
    let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
    Ok((k.trim().to_string(), v.to_string()))
}

impl Inventory {
    /// Every host of `group` and of its children, recursively (a cycle is walked once).
    fn hosts_of(&self, group: &str) -> BTreeSet<String> {
        let mut seen_groups = BTreeSet::new();
        let mut hosts = BTreeSet::new();
        let mut stack = vec![group.to_string()];
        while let Some(g) = stack.pop() {
            if !seen_groups.insert(g.clone()) {
                continue;
            }
            hosts.extend(self.members.get(&g).into_iter().flatten().cloned());
            stack.extend(self.children.get(&g).into_iter().flatten().cloned());
        }
        hosts
    }

    /// The groups `alias` belongs to, nearest first (its own groups, then their parents).
    fn groups_of(&self, alias: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .members
            .iter()
            .filter(|(_, hs)| hs.iter().any(|h| h == alias))
            .map(|(g, _)| g.clone())
            .collect();
        let mut i = 0;
        while i < out.len() {
            let g = out[i].clone();
            for (parent, kids) in &self.children {
                if kids.contains(&g) && !out.contains(parent) {
                    out.push(parent.clone());
                }
            }
            i += 1;
        }
        out.push("all".into());
        out
    }

    /// The host with its connection variables: its own first, then its groups', nearest first.
    fn host(&self, alias: &str) -> Result<Host, String> {
        let own = self.host_vars.get(alias);
        let groups = self.groups_of(alias);
        let var = |names: &[&str]| -> Option<String> {
            let layers = own
                .into_iter()
                .chain(groups.iter().filter_map(|g| self.group_vars.get(g)));
            for vars in layers {
                for n in names {
                    if let Some(v) = vars.get(*n) {
                        return Some(v.clone());
                    }
                }
            }
            None
        };
        let address = var(&HOST_VARS).unwrap_or_else(|| alias.to_string());
        let mut host = Host::parse(&address).map_err(|e| e.to_string())?;
        if let Some(u) = var(&USER_VARS) {
            let bare = host.destination.rsplit('@').next().unwrap().to_string();
            host.destination = format!("{u}@{bare}");
        }
        if let Some(p) = var(&PORT_VARS) {
            host.port = Some(parse_port(&p).map_err(|w| format!("{alias}: {w}"))?);
        }
        host.name = alias.to_string();
        Ok(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_specs() {
        let h = Host::parse("pi@192.168.1.20:2222").unwrap();
        assert_eq!(
            (h.destination.as_str(), h.port),
            ("pi@192.168.1.20", Some(2222))
        );
        let h = Host::parse("jetson").unwrap();
        assert_eq!((h.destination.as_str(), h.port), ("jetson", None));
        let h = Host::parse("root@[::1]:22").unwrap();
        assert_eq!((h.destination.as_str(), h.port), ("root@::1", Some(22)));
        let h = Host::parse("fe80::1").unwrap();
        assert_eq!((h.destination.as_str(), h.port), ("fe80::1", None));
        for bad in [
            "",
            "-oProxyCommand=x",
            "a b",
            "@h",
            "h:0",
            "h:99999",
            "h:x",
            "[::1",
            "u@:22",
        ] {
            assert!(Host::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            Host::parse("pi@board:22").unwrap().dir_name(),
            "pi@board_22"
        );
    }

    #[test]
    fn a_plain_hosts_file() {
        let text = "# my boards\npi4\n\n  pi@10.0.0.5:2200   # the lab one\n[::1]:22\npi4\n";
        let hosts = parse_inventory(text, "hosts", None).unwrap();
        let got: Vec<_> = hosts
            .iter()
            .map(|h| (h.name.as_str(), h.destination.as_str(), h.port))
            .collect();
        assert_eq!(
            got,
            [
                ("pi4", "pi4", None),
                ("pi@10.0.0.5:2200", "pi@10.0.0.5", Some(2200)),
                ("[::1]:22", "::1", Some(22)),
            ]
        );
    }

    #[test]
    fn an_ansible_inventory() {
        let text = "\
ungrouped-box ansible_host=10.0.0.9

[pis]
pi3 ansible_host=10.0.0.3
pi4 ansible_host=10.0.0.4 ansible_port=2222 ansible_user=ubuntu

[jetsons]
orin ansible_host=10.0.0.7 ansible_ssh_user=nvidia

[edge:children]
pis
jetsons

[pis:vars]
ansible_user=pi
ansible_port=22

[edge:vars]
ansible_user=admin
; a comment
";
        let all = parse_inventory(text, "inv", None).unwrap();
        let names: Vec<_> = all.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["ungrouped-box", "pi3", "pi4", "orin"]);
        let pis = parse_inventory(text, "inv", Some("pis")).unwrap();
        // Host vars beat group vars; the nearest group beats its parent.
        assert_eq!(pis[0].destination, "pi@10.0.0.3");
        assert_eq!(pis[0].port, Some(22));
        assert_eq!(pis[1].destination, "ubuntu@10.0.0.4");
        assert_eq!(pis[1].port, Some(2222));
        let edge = parse_inventory(text, "inv", Some("edge")).unwrap();
        let got: Vec<_> = edge.iter().map(|h| h.destination.as_str()).collect();
        assert_eq!(got, ["pi@10.0.0.3", "ubuntu@10.0.0.4", "nvidia@10.0.0.7"]);
        let err = parse_inventory(text, "inv", Some("nope"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no group 'nope'") && err.contains("jetsons"),
            "{err}"
        );
        let err = parse_inventory("[g]\nweb[01:03].lan\n", "inv", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("inv:2") && err.contains("ranges"), "{err}");
        let err = parse_inventory("[g]\nh junk\n", "inv", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("inv:2") && err.contains("'junk': expected key=value"),
            "{err}"
        );
        let err = parse_inventory("[g]\nh ansible_port=abc\n", "inv", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("port 'abc'"), "{err}");
        assert!(parse_inventory("# nothing\n", "inv", None).is_err());
    }
}
