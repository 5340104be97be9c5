//! Running `nft`: the gateway's table and the NAT data plane's are each
//! changed in one transaction fed on standard input, and read back as
//! JSON. Bounded in time, so that a stuck nft never holds the caller.

use std::time::Duration;

use anyhow::{Context, Result, bail};

/// How long one `nft` run may take: loading a NAT table of 130 000
/// entries takes about a second on a small machine.
const DEADLINE: Duration = Duration::from_secs(10);

/// Runs `nft ARGS -f -` with `input` on its standard input.
pub async fn apply(args: &[&str], input: &str) -> Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("nft")
        .args(args)
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot run nft (nftables is needed: apt-get install nftables)")?;
    // nft may stop reading early (a refused line, a wrapper): the broken
    // pipe is no error of ours, nft's own status and message say what.
    let mut unwritten = None;
    if let Some(mut stdin) = child.stdin.take()
        && let Err(e) = stdin.write_all(input.as_bytes()).await
    {
        unwritten = Some(e);
    }
    let out = tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .context("nft did not finish within 10 s")??;
    if !out.status.success() {
        bail!(
            "nft refused the ruleset ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    if let Some(e) = unwritten {
        bail!("nft exited successfully without reading its whole input: {e}");
    }
    Ok(())
}

/// `nft -j list table inet NAME`, parsed.
pub async fn list(table: &str) -> Result<serde_json::Value> {
    list_what(&["table", "inet", table]).await
}

/// `nft -j list counters table inet NAME`, parsed: named counters only.
pub async fn list_counters(table: &str) -> Result<serde_json::Value> {
    list_what(&["counters", "table", "inet", table]).await
}

async fn list_what(what: &[&str]) -> Result<serde_json::Value> {
    let out = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::process::Command::new("nft")
            .args(["-j", "list"])
            .args(what)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .context("nft did not answer within 2 s")??;
    if !out.status.success() {
        bail!(
            "nft list table: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout).context("nft's JSON")
}

/// Each rule's counter in a listing, by the rule's comment.
pub fn counters(doc: &serde_json::Value) -> Vec<(String, u64, u64)> {
    doc["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let rule = o.get("rule")?;
            let comment = rule.get("comment")?.as_str()?;
            let c = rule["expr"]
                .as_array()?
                .iter()
                .find_map(|e| e.get("counter"))?;
            Some((
                comment.to_string(),
                c["packets"].as_u64()?,
                c["bytes"].as_u64()?,
            ))
        })
        .collect()
}

/// Each named counter in a listing: name, packets, bytes.
pub fn counter_objects(doc: &serde_json::Value) -> Vec<(String, u64, u64)> {
    doc["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let c = o.get("counter")?;
            Some((
                c.get("name")?.as_str()?.to_string(),
                c.get("packets")?.as_u64()?,
                c.get("bytes")?.as_u64()?,
            ))
        })
        .collect()
}
