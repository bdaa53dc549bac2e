//! The state file (`-o cluster_state`) across a restart: the version never
//! goes backwards and a set list stays in force.

use super::tests::TempFile;
use super::*;

/// Each source whose list was replaced by `config set`, restarted with
/// the state kept: the set list and its version are in force again.
#[test]
fn a_set_list_and_its_version_survive_a_restart() {
    let state = TempFile::new("kept-admin");
    let first = Cluster::admin_only().kept_in(&state.0).unwrap();
    first.admin_set(b"9000000000\na||1 b||2\n").unwrap();
    drop(first);
    let again = Cluster::admin_only().kept_in(&state.0).unwrap();
    assert_eq!(
        again.current().unwrap().payload(),
        b"9000000000\na||1 b||2\n"
    );
    // A new membership goes above the version kept, not below it.
    let next = again.admin_set(b"5\na||1\n").unwrap();
    assert!(matches!(
        next,
        Reload::Changed {
            to: 9_000_000_001,
            ..
        }
    ));
    // A delete leaves no list, and the version floor still holds after it.
    let deleted = again.admin_delete();
    assert!(matches!(
        deleted,
        Admin::Done(Reload::Changed {
            to: 9_000_000_002,
            ..
        })
    ));
    drop(again);
    let third = Cluster::admin_only().kept_in(&state.0).unwrap();
    assert!(third.current().is_none(), "the deleted list stays deleted");
    let after = third.admin_set(b"5\nc||3\n").unwrap();
    assert!(matches!(
        after,
        Reload::Changed {
            from: 9_000_000_002,
            to: 9_000_000_003,
            ..
        }
    ));
}

#[test]
fn a_set_list_over_an_unchanged_node_file_survives_a_restart() {
    let (file, state) = (TempFile::new("kept-file"), TempFile::new("kept-file-state"));
    file.write("a||1\n", 1_700_000_000);
    let first = Cluster::open(&file.0).unwrap().kept_in(&state.0).unwrap();
    first.admin_set(b"1800000000\na||1 b||2\n").unwrap();
    drop(first);
    let again = Cluster::open(&file.0).unwrap().kept_in(&state.0).unwrap();
    assert_eq!(
        again.current().unwrap().payload(),
        b"1800000000\na||1 b||2\n"
    );
    // Without the state file the same restart went backwards: the file's
    // list at its modification time, below the set list's version.
    let forgetful = Cluster::open(&file.0).unwrap();
    assert_eq!(forgetful.current().unwrap().version(), 1_700_000_000);
}

#[test]
fn a_node_file_changed_while_down_gets_a_version_above_the_one_kept() {
    let (file, state) = (TempFile::new("kept-down"), TempFile::new("kept-down-state"));
    file.write("a||1\n", 1_700_000_000);
    let first = Cluster::open(&file.0).unwrap().kept_in(&state.0).unwrap();
    first.admin_set(b"1800000000\na||1 b||2\n").unwrap();
    drop(first);
    // Written while the server was down, with an older time (`cp -p`).
    file.write("a||1\nc||3\n", 1_600_000_000);
    let again = Cluster::open(&file.0).unwrap().kept_in(&state.0).unwrap();
    assert_eq!(
        again.current().unwrap().payload(),
        b"1800000001\na||1 c||3\n"
    );
}

/// Two changes within one second got `mtime` and `mtime + 1`; a restart
/// without the state served `mtime` for the second list, one below.
#[test]
fn two_changes_in_one_second_keep_their_version_across_a_restart() {
    let (file, state) = (
        TempFile::new("kept-second"),
        TempFile::new("kept-second-state"),
    );
    file.write("a||1\n", 1_700_000_000);
    let first = Cluster::open(&file.0).unwrap().kept_in(&state.0).unwrap();
    file.write("a||1\nb||2\n", 1_700_000_000);
    first.reload().unwrap();
    assert_eq!(first.current().unwrap().version(), 1_700_000_001);
    drop(first);
    let again = Cluster::open(&file.0).unwrap().kept_in(&state.0).unwrap();
    assert_eq!(again.current().unwrap().version(), 1_700_000_001);
}

#[test]
fn a_state_file_that_cannot_be_written_is_refused_at_start() {
    let err = Cluster::admin_only()
        .kept_in(std::path::Path::new("/nonexistent-dir/state"))
        .unwrap()
        .save_state()
        .unwrap_err();
    assert!(err.starts_with("/nonexistent-dir/state: "), "{err}");
    // A change that cannot be kept is refused and changes nothing.
    let dir = std::env::temp_dir().join(format!("ferrocache-gone-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = Cluster::admin_only().kept_in(&dir.join("state")).unwrap();
    c.admin_set(b"5\na||1\n").unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(
        c.admin_set(b"6\nb||2\n"),
        Err(Refused::NotKept(_))
    ));
    assert_eq!(c.current().unwrap().payload(), b"5\na||1\n");
    assert!(matches!(c.admin_delete(), Admin::NotKept(_)));
    assert_eq!(c.current().unwrap().payload(), b"5\na||1\n");
    let bad = TempFile::new("kept-bad");
    std::fs::write(&bad.0, "versions 3\n").unwrap();
    assert!(Cluster::admin_only().kept_in(&bad.0).is_err());
}
