# Sourced by the chat benchmarks. chat_app FILE [OPTIONS] writes an application
# file serving the chat example's model as OpenAI model "m" at /chat (one
# replica, max_ongoing_requests = 16), OPTIONS added to its replica table, e.g.
#   chat_app "$STATE/app.toml" 'enable_prefix_caching = false'
chat_app() {
  cat > "$1" <<TOML
[[applications]]
name = "chat"
route_prefix = "/chat"
[[applications.deployments]]
name = "llm"
max_ongoing_requests = 16
replica = { kind = "chat", model_path = "$PWD/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf", model_id = "m"${2:+, $2} }
TOML
}
