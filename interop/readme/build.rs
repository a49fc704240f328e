//! Writes every ```rust block of the README into a module of `$OUT_DIR/readme_blocks.rs`.
//!
//! The line before each block is a comment the rendered README does not show:
//! `<!-- readme-check {"items": "...", "args": "...", "wrap": "...", "name": "..."} -->`, every
//! member optional. `items` are module-level lines the block assumes (imports, a handler it
//! routes to); `args` the values it uses without making them (`auth: JwtAuth<MyClaims>`).
//! By default the block becomes the body of `async fn run(args) -> Result<(), Box<dyn Error>>`;
//! `wrap` names another form (below). A block without the comment fails the build, so a new
//! block is checked from the day it is written.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    println!("cargo::rerun-if-changed={}", readme_path.display());
    let readme = std::fs::read_to_string(&readme_path).expect("README.md is readable");

    let mut out = String::new();
    let mut lines = readme.lines().enumerate();
    let mut previous = "";
    while let Some((number, line)) = lines.next() {
        if !line.starts_with("```rust") {
            previous = line;
            continue;
        }
        let line_number = number + 1;
        let Some(meta) =
            previous.strip_prefix("<!-- readme-check ").and_then(|rest| rest.strip_suffix(" -->"))
        else {
            panic!(
                "README.md line {line_number}: a ```rust block needs the line \
                 `<!-- readme-check {{...}} -->` before it (see interop/readme/build.rs)"
            );
        };
        let meta: serde_json::Value = serde_json::from_str(meta)
            .unwrap_or_else(|err| panic!("README.md line {}: {err}", line_number - 1));
        let field = |name: &str| meta.get(name).and_then(|v| v.as_str()).unwrap_or("");
        let mut body = String::new();
        for (_, line) in lines.by_ref() {
            if line.starts_with("```") {
                break;
            }
            body.push_str(line);
            body.push('\n');
        }
        let name = match field("name") {
            "" => format!("line_{line_number}"),
            name => name.to_owned(),
        };
        let (items, args) = (field("items"), field("args"));
        writeln!(out, "/// README.md line {line_number}.").unwrap();
        match field("wrap") {
            // A method of an rmcp tool router (`#[tool]`), inside the server it needs.
            "rmcp_tools" => write!(
                out,
                "pub mod {name} {{\n{items}\n{RMCP_TOOLS_HEAD}\n{body}\n{RMCP_TOOLS_TAIL}\n}}\n"
            ),
            // Items of a test module (`#[test]` functions and their imports).
            "test_module" => write!(out, "#[cfg(test)]\nmod {name} {{\n{items}\n{body}\n}}\n"),
            "" => write!(
                out,
                "pub mod {name} {{\n{items}\npub async fn run({args}) -> \
                 Result<(), Box<dyn std::error::Error>> {{\n{body}\nOk(())\n}}\n}}\n"
            ),
            other => panic!("README.md line {}: unknown wrap `{other}`", line_number - 1),
        }
        .unwrap();
        previous = "";
    }
    let target = Path::new(&std::env::var("OUT_DIR").unwrap()).join("readme_blocks.rs");
    std::fs::write(target, out).unwrap();
}

const RMCP_TOOLS_HEAD: &str = "\
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, tool_handler, tool_router};
#[derive(Clone)]
pub struct Tools {
    tool_router: ToolRouter<Self>,
}
#[tool_router]
impl Tools {
    pub fn new() -> Self {
        Tools { tool_router: Self::tool_router() }
    }";

const RMCP_TOOLS_TAIL: &str = "\
}
#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}";
