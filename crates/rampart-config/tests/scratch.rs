mod common;
#[test]
fn scratch() {
    for src in [
        "[[frontend]]\nname = \"www\nbind = []\n\n[[backend]]\nname = 1\n",
        "[[frontend]]\nname = \"www\"\nbnd = [\"127.0.0.1:80\"]\nbackend = \"pol\"\n[[backend]]\nname = \"pool\"\nservers = [\n  { name = \"a\", addr = \"127.0.0.1:0\" },\n  { name = \"a\", adr = \"x\", weight = 300 },\n]\nhealth = { check = { http = \"get /\" , status = 700}, interval = \"0s\" }\n",
        "x = [1, 2\ny = 3\n[a\nb = c\n",
        "[frontend]\nname = \"x\"\n",
        "a = 'é' \u{7f}\n",
    ] {
        match rampart_config::parse("t.toml", src) { Ok(c) => println!("{c:?}"), Err(e) => println!("{e}") }
    }
}
