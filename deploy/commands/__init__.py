"""The CLI's commands, grouped by stage; `deploy.cli` registers them."""
