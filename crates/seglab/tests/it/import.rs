//! `seglab import`: every format, line-numbered rejections, dedup on re-import,
//! history marked as such.

use std::io::Write;

use seglab_store::Reader;

use crate::seglab;

#[test]
fn ndjson_csv_and_batch_json_with_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let nd = dir.path().join("events.ndjson");
    std::fs::write(
        &nd,
        concat!(
            r#"{"type":"identify","userId":"u1","anonymousId":"a1","traits":{"email":"u1@x"},"timestamp":"2025-01-01T00:00:00Z"}"#, "\n",
            r#"{"userId":"u1","event":"Order Completed","properties":{"revenue":20},"timestamp":"2025-01-02T00:00:00Z"}"#, "\n",
            "\n",
            r#"{"type":"track","event":"No Id"}"#, "\n",
            "{not json\n",
            r#"{"type":"page","anonymousId":"a1","name":"Home","messageId":"p1","timestamp":"2025-01-01T00:00:00+02:00"}"#, "\n",
        ),
    )
    .unwrap();
    let csv = dir.path().join("orders.csv");
    std::fs::write(&csv, "user_id,event,timestamp,revenue,category\nu2,Order Completed,2025-02-01T10:00:00Z,99.5,shoes\nu2,,2025-02-01T10:00:00Z,1,x\n").unwrap();
    let json = dir.path().join("batch.json");
    std::fs::write(&json, r#"{"batch":[{"type":"track","userId":"u3","event":"Signed Up"},{"type":"group","userId":"u3"}]}"#).unwrap();
    let gz = dir.path().join("more.ndjson.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(
        br#"{"userId":"u4","event":"Product Viewed","timestamp":"2025-03-01T00:00:00Z"}"#,
    )
    .unwrap();
    enc.finish().unwrap();

    let files = [
        nd.to_str().unwrap(),
        csv.to_str().unwrap(),
        json.to_str().unwrap(),
        gz.to_str().unwrap(),
    ];
    let mut args = vec!["import", "--quiet"];
    args.extend(files);
    let out = seglab(&data, &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("6 events imported, 0 duplicates skipped, 4 lines rejected"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "events.ndjson: line 4: `userId` or `anonymousId` is required (invalid_message)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("events.ndjson: line 5: malformed json"),
        "{stdout}"
    );
    assert!(
        stdout.contains("orders.csv: line 3: `event` is empty"),
        "{stdout}"
    );
    assert!(
        stdout.contains("batch.json: line 2: `groupId` is required"),
        "{stdout}"
    );

    let reader = Reader::open(&data).unwrap();
    let events = reader.events_after(0, 100).unwrap();
    assert_eq!(events.len(), 6);
    assert!(events.iter().all(|e| e.historical));
    let u1 = reader.person("a1", 10).unwrap().unwrap();
    assert_eq!(u1.ids, ["a1", "u1"]);
    assert_eq!(u1.event_count, 3);
    let order = reader.person("u2", 1).unwrap().unwrap();
    assert_eq!(
        order.events[0].to_json()["properties"],
        serde_json::json!({"revenue": 99.5, "category": "shoes"})
    );

    // Importing the same files again stores nothing new.
    let out = seglab(&data, &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("0 events imported, 6 duplicates skipped"),
        "{stdout}"
    );
    assert_eq!(Reader::open(&data).unwrap().event_count().unwrap(), 6);
}

#[test]
fn import_refuses_a_folder_a_server_is_writing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _server = crate::Server::start(&data);
    let f = dir.path().join("x.ndjson");
    std::fs::write(&f, "{\"userId\":\"u\",\"event\":\"e\"}\n").unwrap();
    let out = seglab(&data, &["import", "--quiet", f.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another seglab process is writing"), "{err}");
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = seglab(
        &dir.path().join("d"),
        &["import", "/nonexistent/file.ndjson"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("opening /nonexistent/file.ndjson"));
}
