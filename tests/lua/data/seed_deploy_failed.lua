-- Hook script for handling failed deployments
function on_event()
    local deploy_id = event.data.deploy_id
    local service = event.data.service
    local error_msg = event.data.error

    -- Log the failure
    log.error("Deployment failed: " .. service .. " (" .. deploy_id .. ")")
    log.error("Error: " .. error_msg)

    -- Send alert to Slack
    local slack_webhook = "https://hooks.slack.com/services/YOUR/WEBHOOK/URL"
    local payload = {
        text = string.format("ðŸš¨ Deployment Failed\\nService: %s\\nDeploy ID: %s\\nError: %s",
                            service, deploy_id, error_msg)
    }

    http.post(slack_webhook, payload)

    -- Trigger rollback workflow if needed
    if event.data.rollback_needed then
        event.dispatch("deploy.rollback", {
            deploy_id = deploy_id,
            service = service,
            reason = "automated_rollback_on_failure"
        })
    end

    return true
end
