//! What errors look like: the rendered output of files with several mistakes.

use seglab_lang::{check, parse, render_all};

use crate::support::catalog;

#[test]
fn checker_errors_and_warnings() {
    let source = "\
# marketing segments
segment buyers \"Buyers\" = did \"Order Complete\" in last 30d
segment browsers =
    did \"Product Viewed\" where categry = \"shoes\"
    and in segment byers
segment big = sum(\"Order Completed\".currency) >= 500
";
    let file = parse(source).unwrap();
    let rendered = render_all(&check(&file, &catalog()), source, "marketing.seg");
    assert_eq!(
        rendered,
        r#"marketing.seg:2:31: error: unknown event "Order Complete"
  |
2 | segment buyers "Buyers" = did "Order Complete" in last 30d
  |                               ^^^^^^^^^^^^^^^^
  = hint: did you mean "Order Completed"?

marketing.seg:4:32: warning: event "Product Viewed" has no property "categry"
  |
4 |     did "Product Viewed" where categry = "shoes"
  |                                ^^^^^^^
  = hint: did you mean "category"?

marketing.seg:5:20: error: unknown segment `byers`
  |
5 |     and in segment byers
  |                    ^^^^^
  = hint: did you mean `buyers`?

marketing.seg:6:37: error: sum needs numbers, but property "currency" of "Order Completed" holds strings
  |
6 | segment big = sum("Order Completed".currency) >= 500
  |                                     ^^^^^^^^
"#
    );
}

#[test]
fn syntax_errors() {
    let source = "\
segment a = did \"Order Completed\" in last 30days
segment b = count(\"Order Completed\") >= 2 and
segment c = did \"Product Added\" then \"Order Completed\"
segment d = rfm in [Champions, At risk]
";
    let rendered = render_all(&parse(source).unwrap_err(), source, "broken.seg");
    assert_eq!(
        rendered,
        r#"broken.seg:1:43: error: unknown time unit `days`
  |
1 | segment a = did "Order Completed" in last 30days
  |                                           ^^^^^^
  = hint: write 30d; units are s, m, h, d and w

broken.seg:2:46: error: expected a condition, found `segment`
  |
2 | segment b = count("Order Completed") >= 2 and
  |                                              ^
  = hint: a condition starts with did, count, sum, avg, min, max, distinct, top, first, last, first_seen, last_seen, stopped, restarted, regularly, trait, in segment, rfm, predicted, not or `(`

broken.seg:3:33: error: `then` needs `within`: how soon the second event must follow
  |
3 | segment c = did "Product Added" then "Order Completed"
  |                                 ^^^^^^^^^^^^^^^^^^^^^^
  = hint: add a time limit, as in `then "Order Completed" within 24h`, or write `then not`

broken.seg:4:35: error: expected `,` or `]`, found `risk`
  |
4 | segment d = rfm in [Champions, At risk]
  |                                   ^^^^
  = hint: cell names with spaces are quoted: "At risk"
"#
    );
}
