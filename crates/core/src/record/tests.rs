use super::*;
use chrono::TimeZone;
use proptest::prelude::*;

fn record() -> Record {
    Record {
        ticket: "DM-32509".into(),
        kind: RecordKind::Defer,
        standing: Standing::Final,
        line: Some("v29".into()),
        target: None,
        until: NaiveDate::from_ymd_opt(2026, 12, 17),
        member: Some("chair".into()),
        meeting: Some(Sitting {
            date: NaiveDate::from_ymd_opt(2026, 12, 3).unwrap(),
            sitting: 2,
        }),
        provisional_in: None,
        reason: Some("wait for the pipelines fix — \"see\" _this_ {noformat}".into()),
        event: "ab".repeat(32),
        undoes: None,
        at: Utc.with_ymd_and_hms(2026, 12, 3, 10, 4, 5).unwrap(),
    }
}

fn writers() -> Vec<String> {
    vec!["chair".into(), "bot".into()]
}

fn key() -> Secret {
    Secret::new("team-key-1")
}

fn only(body: &str) -> Block {
    let blocks = find_blocks(body);
    assert_eq!(blocks.len(), 1, "{body}");
    blocks.into_iter().next().unwrap()
}

#[test]
fn jira_block_is_one_noformat_line_with_the_search_word() {
    let b = encode(&record(), Form::Jira, None);
    assert!(b.starts_with("{noformat}portcullisrecord v1 "), "{b}");
    assert!(b.ends_with("{noformat}"), "{b}");
    assert!(!b.contains('\n'));
    let inner = &b["{noformat}".len()..b.len() - "{noformat}".len()];
    assert!(!inner.contains('{') && !inner.contains('"'), "{inner}");
}

#[test]
fn github_block_is_an_html_comment() {
    let b = encode(&record(), Form::Github, None);
    assert!(b.starts_with("<!-- portcullis-record v1 "), "{b}");
    assert!(b.ends_with(" -->"));
    assert!(
        !b[4..b.len() - 3].contains("--"),
        "no `--` inside an HTML comment: {b}"
    );
}

#[test]
fn a_block_reads_back_from_a_comment_in_either_form() {
    for form in [Form::Jira, Form::Github] {
        let body = format!(
            "Backport steering committee: DEFERRED.\nReason: x\n[portcullis:abab]\n{}",
            encode(&record(), form, None)
        );
        let b = only(&body);
        assert_eq!(b.decoded, Ok(record()));
        assert_eq!(
            check(&b, "DM-32509", "Chair", &writers(), None),
            Ok(record())
        );
    }
}

#[test]
fn a_jira_block_reads_back_from_adf_text_run_together() {
    // ADF's code block text has no line break around it once flattened.
    let block = encode(&record(), Form::Jira, None);
    let inner = &block["{noformat}".len()..block.len() - "{noformat}".len()];
    let body = format!("Recorded by chair in portcullis.{inner}Next paragraph");
    // The token stops at the first character that is not base64url, `.` or hex: here `N`
    // would continue it, so a real ADF flattening ends the code block with a newline or
    // nothing; both read back.
    let body_nl = format!("Recorded by chair in portcullis.{inner}\nNext paragraph");
    assert_eq!(only(&body_nl).decoded, Ok(record()));
    assert!(only(&body).decoded.is_err());
}

#[test]
fn an_edited_block_is_detected() {
    let block = encode(&record(), Form::Github, None);
    let start = block.find(" v1 ").unwrap() + 4;
    // Every single-character change in the payload or the digest is caught.
    let token_end = block.len() - 4;
    for i in start..token_end {
        let mut bytes = block.clone().into_bytes();
        if bytes[i] == b'.' {
            continue;
        }
        bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
        let edited = String::from_utf8(bytes).unwrap();
        let b = only(&edited);
        assert_eq!(b.decoded, Err(Rejection::Edited), "change at {i}: {edited}");
    }
}

#[test]
fn a_truncated_block_is_detected() {
    let block = encode(&record(), Form::Jira, Some(&key()));
    let start = block.find("portcullisrecord").unwrap() + "portcullisrecord".len();
    let end = block.len() - "{noformat}".len();
    // Cut inside the signature where what is left looks like a digest: it does not match.
    let mac_start = block[..end].rfind('.').unwrap() - 64;
    for cut in start..end {
        let b = only(&block[..cut]);
        let want = if cut == mac_start + 32 {
            Rejection::Edited
        } else {
            Rejection::Truncated
        };
        assert_eq!(b.decoded.clone().err(), Some(want), "cut at {cut}");
    }
}

#[test]
fn an_unknown_version_is_reported() {
    let block = encode(&record(), Form::Github, None).replace(" v1 ", " v2 ");
    assert_eq!(
        only(&block).decoded,
        Err(Rejection::UnknownVersion("v2".into()))
    );
}

#[test]
fn a_digest_over_something_else_is_not_a_record() {
    let junk = b64::encode(br#"{"ticket":"DM-1","kind":"approve"}"#);
    let body = format!("<!-- portcullis-record v1 {junk}.{} -->", digest_of(&junk));
    assert_eq!(only(&body).decoded, Err(Rejection::NotARecord));
    let odd = format!("{junk}.abc");
    let body = format!("<!-- portcullis-record v1 {odd}.{} -->", digest_of(&odd));
    assert_eq!(only(&body).decoded, Err(Rejection::NotARecord));
    // Valid JSON of a record, but not as portcullis writes it (other field order).
    let r = record();
    let mut v = serde_json::to_value(&r).unwrap();
    let reordered = format!(
        r#"{{"at":{},"ticket":{},"kind":"defer","event":{}}}"#,
        v["at"].take(),
        v["ticket"].take(),
        v["event"].take()
    );
    let p = b64::encode(reordered.as_bytes());
    let body = format!("<!-- portcullis-record v1 {p}.{} -->", digest_of(&p));
    assert_eq!(only(&body).decoded, Err(Rejection::NotARecord));
}

#[test]
fn only_listed_writers_are_trusted() {
    let b = only(&encode(&record(), Form::Jira, None));
    assert_eq!(
        check(&b, "DM-32509", "mallory", &writers(), None),
        Err(Rejection::UnlistedWriter)
    );
    assert_eq!(
        check(&b, "DM-32509", "bot", &[], None),
        Err(Rejection::UnlistedWriter)
    );
    assert_eq!(check(&b, "DM-32509", "BOT", &writers(), None), Ok(record()));
}

#[test]
fn a_block_copied_to_another_ticket_is_caught() {
    let b = only(&encode(&record(), Form::Jira, None));
    assert_eq!(
        check(&b, "DM-1", "chair", &writers(), None),
        Err(Rejection::OtherTicket("DM-32509".into()))
    );
}

#[test]
fn with_a_team_key_only_signed_blocks_pass() {
    let signed = only(&encode(&record(), Form::Github, Some(&key())));
    let unsigned = only(&encode(&record(), Form::Github, None));
    let other = only(&encode(
        &record(),
        Form::Github,
        Some(&Secret::new("other")),
    ));
    let k = Some(&key());
    assert_eq!(
        check(&signed, "DM-32509", "chair", &writers(), k),
        Ok(record())
    );
    assert_eq!(
        check(&unsigned, "DM-32509", "chair", &writers(), k),
        Err(Rejection::Unsigned)
    );
    assert_eq!(
        check(&other, "DM-32509", "chair", &writers(), k),
        Err(Rejection::BadSignature)
    );
    // Without a key, a signature is not checked: a signed block reads everywhere.
    assert_eq!(
        check(&signed, "DM-32509", "chair", &writers(), None),
        Ok(record())
    );
}

#[test]
fn the_key_never_appears_in_a_block() {
    let k = Secret::new("s3cr3t-team-key");
    let b = encode(&record(), Form::Jira, Some(&k));
    assert!(!b.contains("s3cr3t"));
    assert!(!format!("{:?}", only(&b)).contains("s3cr3t"));
}

#[test]
fn several_blocks_in_one_body_are_all_found_and_prose_mentions_are_reported() {
    let mut other = record();
    other.kind = RecordKind::Approve;
    let body = format!(
        "{}\n{}\nwhat is a portcullisrecord anyway?",
        encode(&record(), Form::Jira, None),
        encode(&other, Form::Github, None)
    );
    let blocks = find_blocks(&body);
    assert_eq!(blocks.len(), 3);
    assert_eq!(blocks[0].decoded, Ok(record()));
    assert_eq!(blocks[1].decoded, Ok(other));
    assert_eq!(blocks[2].decoded, Err(Rejection::Truncated));
    assert!(find_blocks("no block here [portcullis:abcd]").is_empty());
}

#[test]
fn base64url_rejects_what_it_never_writes() {
    assert_eq!(b64::encode(b"\xfb\xff"), "-_8");
    assert_eq!(b64::decode("-_8"), Some(b"\xfb\xff".to_vec()));
    assert_eq!(b64::decode("-_9"), None, "non-zero unused bits");
    assert_eq!(b64::decode("a"), None);
    assert_eq!(b64::decode("ab+c"), None);
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ._{}<>!-]{0,40}",
        any::<String>().prop_map(|s| s.chars().take(60).collect()),
    ]
}

fn arb_sitting() -> impl Strategy<Value = Sitting> {
    (0u32..20_000, 1u32..5).prop_map(|(d, sitting)| Sitting {
        date: NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + chrono::Days::new(d.into()),
        sitting,
    })
}

fn arb_record() -> impl Strategy<Value = Record> {
    (
        (
            "[A-Z]{1,4}-[0-9]{1,6}|[a-z_]{1,10}#[0-9]{1,5}",
            prop::sample::select(RecordKind::ALL.to_vec()),
            prop::sample::select(vec![
                Standing::Final,
                Standing::Provisional,
                Standing::Ratified,
            ]),
            prop::option::of("v[0-9]{1,2}"),
            prop::option::of(prop_oneof![
                "[0-9]{1,2}\\.[0-9]\\.[0-9]".prop_map(Target::Release),
                "[a-z]{1,8}".prop_map(Target::Step),
            ]),
            prop::option::of(0u32..20_000),
            prop::option::of(arb_text()),
        ),
        (
            prop::option::of(arb_sitting()),
            prop::option::of(arb_sitting()),
            prop::option::of(arb_text()),
            "[0-9a-f]{64}",
            prop::option::of("[0-9a-f]{64}"),
            0i64..4_000_000_000,
            0u32..1_000_000_000,
        ),
    )
        .prop_map(
            |(
                (ticket, kind, standing, line, target, until, member),
                (meeting, provisional_in, reason, event, undoes, secs, nanos),
            )| Record {
                ticket,
                kind,
                standing,
                line,
                target,
                until: until.map(|d| {
                    NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + chrono::Days::new(d.into())
                }),
                member,
                meeting,
                provisional_in,
                reason,
                event,
                undoes,
                at: Utc.timestamp_opt(secs, nanos).unwrap(),
            },
        )
}

proptest! {
    #[test]
    fn every_record_reads_back_as_written(
        r in arb_record(),
        github in any::<bool>(),
        signed in any::<bool>(),
        before in arb_text(),
        after in "(\n[a-zA-Z ]{0,20})?",
    ) {
        let form = if github { Form::Github } else { Form::Jira };
        let k = key();
        let key = signed.then_some(&k);
        // Prose around the block that does not mention a marker.
        prop_assume!(!before.to_ascii_lowercase().contains("portcullis"));
        let body = format!("{before}\n{}{after}", encode(&r, form, key));
        let blocks = find_blocks(&body);
        prop_assert_eq!(blocks.len(), 1);
        prop_assert_eq!(&blocks[0].decoded, &Ok(r.clone()));
        prop_assert_eq!(check(&blocks[0], &r.ticket, "bot", &writers(), key), Ok(r));
    }

    #[test]
    fn no_cut_of_a_block_is_ever_applied(r in arb_record(), cut in 0usize..2000) {
        let block = encode(&r, Form::Github, Some(&key()));
        // Anywhere before the end of the block's text (` -->` is not part of it).
        let cut = cut % (block.len() - " -->".len());
        prop_assume!(block.is_char_boundary(cut));
        for b in find_blocks(&block[..cut]) {
            prop_assert!(b.decoded.is_err());
        }
    }

    #[test]
    fn base64url_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let s = b64::encode(&bytes);
        prop_assert!(s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        prop_assert_eq!(b64::decode(&s), Some(bytes));
    }
}
