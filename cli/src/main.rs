//! The `rserve` binary: the CLI and daemon with the built-in kinds. A build
//! of your own registers more (`rserve::App::new().kind::<D>("name")`).

fn main() -> std::process::ExitCode {
    rserve::App::new().run()
}
