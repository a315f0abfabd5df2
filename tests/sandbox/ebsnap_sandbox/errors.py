"""EC2 errors as the gateway answers them (the EC2 Query API error document)."""
from xml.sax.saxutils import escape


class Ec2Error(Exception):
    """An error EC2 would answer: HTTP status, error code and message."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def error_body(code: str, message: str, request_id: str) -> bytes:
    # EC2's error document differs from the other Query services (<Response><Errors>...).
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{escape(code)}</Code>"
        f"<Message>{escape(message)}</Message></Error></Errors>"
        f"<RequestID>{escape(request_id)}</RequestID></Response>"
    ).encode()


# Errors every handler may raise; the messages are EC2's own wording.
def auth_failure(detail: str = "") -> Ec2Error:
    return Ec2Error("AuthFailure", "AWS was not able to validate the provided access credentials"
                    + (f" ({detail})" if detail else ""), 401)


def request_expired(detail: str = "Request has expired.") -> Ec2Error:
    return Ec2Error("RequestExpired", detail, 400)


def unauthorized() -> Ec2Error:
    return Ec2Error("UnauthorizedOperation", "You are not authorized to perform this operation.", 403)


def dry_run_ok() -> Ec2Error:
    return Ec2Error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412)


def request_limit_exceeded() -> Ec2Error:
    return Ec2Error("RequestLimitExceeded", "Request limit exceeded.", 503)


def invalid_value(message: str) -> Ec2Error:
    return Ec2Error("InvalidParameterValue", message, 400)


def incorrect_state(message: str) -> Ec2Error:
    return Ec2Error("IncorrectState", message, 400)
