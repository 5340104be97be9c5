//! `[global] user`/`group`: who the worker runs as. The names are looked up
//! when the node starts and at each reload (a new worker, a new lookup),
//! and by `check --host`; the drop itself is `rampart_sys::privilege`.

use nix::unistd::{Gid, Group, Uid, User};
use rampart_config::Global;
use rampart_sys::privilege::Identity;

/// Which key of `[global]` a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    User,
    Group,
}

/// The worker's identity, or `None` when the file names neither `user`
/// nor `group` (the worker stays the supervisor's user, still with no
/// capability but CAP_NET_ADMIN in its permitted set).
pub fn resolve(g: &Global) -> Result<Option<Identity>, (Key, String)> {
    if g.user.is_none() && g.group.is_none() {
        return Ok(None);
    }
    let user = match &g.user {
        Some(name) => Some(user(name).map_err(|e| (Key::User, e))?),
        None => None,
    };
    let gid = match (&g.group, &user) {
        (Some(name), _) => group(name).map_err(|e| (Key::Group, e))?,
        (None, Some((_, Some(primary)))) => *primary,
        (None, Some((uid, None))) => {
            return Err((
                Key::User,
                format!("uid {uid} has no passwd entry, so no primary group: set `group` too"),
            ));
        }
        (None, None) => Gid::effective().as_raw(),
    };
    let uid = user.map_or_else(|| Uid::effective().as_raw(), |(uid, _)| uid);
    Ok(Some(Identity { uid, gid }))
}

/// Whether this process may start a worker as `id`: it is `id` already,
/// or it may change user (root, or CAP_SETUID and CAP_SETGID).
pub fn can_become(id: Identity) -> Result<(), String> {
    let already = Uid::effective().as_raw() == id.uid && Gid::effective().as_raw() == id.gid;
    if already || rampart_sys::privilege::may_change_identity() {
        Ok(())
    } else {
        Err(format!(
            "rampart runs as uid {}, which cannot start its worker as uid {} gid {}: start it as \
             root, or leave `user`/`group` out (under systemd, the unit's User= already runs \
             everything as that user)",
            Uid::effective(),
            id.uid,
            id.gid
        ))
    }
}

/// A user name or numeric uid: the uid and, if it has a passwd entry, its
/// primary group.
fn user(name: &str) -> Result<(u32, Option<u32>), String> {
    if let Ok(uid) = name.parse::<u32>() {
        let entry = User::from_uid(Uid::from_raw(uid)).ok().flatten();
        return Ok((uid, entry.map(|u| u.gid.as_raw())));
    }
    match User::from_name(name) {
        Ok(Some(u)) => Ok((u.uid.as_raw(), Some(u.gid.as_raw()))),
        Ok(None) => Err(format!("user `{name}` does not exist on this host")),
        Err(e) => Err(format!("cannot look up user `{name}`: {e}")),
    }
}

/// A group name or numeric gid.
fn group(name: &str) -> Result<u32, String> {
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(gid);
    }
    match Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        Ok(None) => Err(format!("group `{name}` does not exist on this host")),
        Err(e) => Err(format!("cannot look up group `{name}`: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(user: Option<&str>, group: Option<&str>) -> Global {
        Global {
            user: user.map(str::to_string),
            group: group.map(str::to_string),
            ..Global::default()
        }
    }

    #[test]
    fn names_and_ids_resolve_as_the_passwd_file_says() {
        assert_eq!(resolve(&global(None, None)), Ok(None));
        // Every Debian system has root (0:0) and nobody (65534, nogroup).
        assert_eq!(
            resolve(&global(Some("root"), None)),
            Ok(Some(Identity { uid: 0, gid: 0 }))
        );
        let nobody = User::from_name("nobody").unwrap().unwrap();
        assert_eq!(
            resolve(&global(Some("nobody"), None)),
            Ok(Some(Identity {
                uid: nobody.uid.as_raw(),
                gid: nobody.gid.as_raw()
            }))
        );
        assert_eq!(
            resolve(&global(Some("0"), Some("12345"))),
            Ok(Some(Identity { uid: 0, gid: 12345 }))
        );
        assert_eq!(
            resolve(&global(None, Some("root"))),
            Ok(Some(Identity {
                uid: Uid::effective().as_raw(),
                gid: 0
            }))
        );
    }

    #[test]
    fn unknown_names_are_named() {
        let (key, e) = resolve(&global(Some("no-such-user-rampart"), None)).unwrap_err();
        assert_eq!(key, Key::User);
        assert_eq!(e, "user `no-such-user-rampart` does not exist on this host");
        let (key, e) = resolve(&global(Some("root"), Some("no-such-group-rampart"))).unwrap_err();
        assert_eq!(key, Key::Group);
        assert!(
            e.contains("group `no-such-group-rampart` does not exist"),
            "{e}"
        );
        // A uid with no passwd entry has no primary group to fall back on.
        let (key, e) = resolve(&global(Some("4000000000"), None)).unwrap_err();
        assert_eq!(key, Key::User);
        assert!(e.contains("set `group` too"), "{e}");
    }
}
