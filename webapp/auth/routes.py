"""Login, logout, the home page and first-run setup."""

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from ..extensions import db, limiter, login_manager
from ..validators import address_key, has_control_characters
from . import first_run
from .forms import LoginForm, SetupForm
from .models import LoginSession, User, dummy_password_check
from .signals import announce

bp = Blueprint("auth", __name__)

BAD_LOGIN = "Email or password is incorrect."


def safe_next(target):
    """``target`` when it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or has_control_characters(target) or any(c.isspace() for c in target):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


@login_manager.unauthorized_handler
def _to_login():
    if request.path.startswith("/api/"):
        abort(401)
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _login_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


def _account_key():
    return "account:" + address_key(request.form.get("email"))[:254]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], scope="login-ip")
@limiter.limit(_login_limit, methods=["POST"], key_func=_account_key, scope="login-account")
def login():
    """Log in with email and password."""
    next_path = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_path or url_for("auth.home"))
    form = LoginForm()
    if form.validate_on_submit():
        email = address_key(form.email.data)
        user = db.session.scalar(db.select(User).where(User.email == email))
        if user is None:
            dummy_password_check(form.password.data)
        if user is not None and user.check_password(form.password.data) and user.is_active:
            session.clear()  # no value from before the login survives it
            token = LoginSession.start(user)
            announce("auth.login", target=user.email, actor=user)
            db.session.commit()
            login_user(user)
            session["sid"] = token
            return redirect(next_path or url_for("auth.home"))
        announce("auth.login_failed", target=email, actor="anonymous")
        db.session.commit()
        form.password.errors.append(BAD_LOGIN)
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """End this session on the server, so its cookie is worthless afterwards."""
    token = session.get("sid")
    if token:
        db.session.execute(
            db.delete(LoginSession).where(LoginSession.id == LoginSession.digest(token))
        )
    announce("auth.logout", target=current_user.email)
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/")
@login_required
def home():
    """Home page with links by role."""
    return render_template("auth/home.html")


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """Create the first administrator with the one-time link; 404 for good afterwards."""
    token = request.args.get("token", "")
    if first_run.admin_exists() or not first_run.token_matches(token):
        abort(404)
    form = SetupForm()
    if form.validate_on_submit():
        user = User(email=form.email.data, name=form.name.data or "", role="admin")
        user.set_password(form.password.data)
        db.session.add(user)
        db.session.flush()
        announce("auth.setup", target=user.email, changes={"role": [None, "admin"]}, actor=user)
        db.session.commit()
        first_run.discard_token()
        flash("Administrator created. Log in to continue.", "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/setup.html", form=form, token=token)
