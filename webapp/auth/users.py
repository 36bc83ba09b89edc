"""Enterprise Settings: the index of sections and the Users section."""

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext
from flask_login import current_user

from ..extensions import db
from .access import admin_view
from .forms import UserCreateForm, UserEditForm
from .models import LoginSession, User
from .signals import announce

bp = Blueprint("users", __name__, url_prefix="/admin")


def add_settings_section(app, title, endpoint, description, match=None):
    """List a feature's page under Administrator Settings → Enterprise Settings.

    ``match`` is the endpoint prefix of the section's pages (its blueprint by default).
    """
    app.extensions.setdefault("settings_sections", []).append(
        {
            "title": title,
            "endpoint": endpoint,
            "description": description,
            "match": match or endpoint.split(".")[0] + ".",
        }
    )


def add_member_link(app, title, endpoint, description):
    """List a page every logged-in user may open on the home page."""
    app.extensions.setdefault("member_links", []).append(
        {"title": title, "endpoint": endpoint, "description": description}
    )


def navigation():
    """Template globals: the settings sections and the home page's links for this user."""
    sections = current_app.extensions.get("settings_sections", [])
    links = list(current_app.extensions.get("member_links", []))
    # Mail bodies are rendered outside any request, where there is no user at all.
    if getattr(current_user, "is_authenticated", False) and current_user.is_admin:
        links = sections + links
    return {"settings_sections": sections, "home_links": links}


def _fields(user):
    return {"name": user.name, "role": user.role, "active": bool(user.active)}


@bp.route("/settings")
@admin_view
def enterprise_settings():
    """The Enterprise Settings index: one card per section."""
    sections = current_app.extensions.get("settings_sections", [])
    return render_template("admin/settings_index.html", sections=sections)


@bp.route("/users")
@admin_view
def user_list():
    """Every account with its role and state."""
    users = db.session.scalars(db.select(User).order_by(User.email)).all()
    return render_template("admin/users.html", users=users)


@bp.route("/users/new", methods=["GET", "POST"])
@admin_view
def user_create():
    """Create an account."""
    form = UserCreateForm()
    if form.validate_on_submit():
        user = User(email=form.email.data, name=form.name.data or "", role=form.role.data)
        user.set_password(form.password.data)
        db.session.add(user)
        db.session.flush()
        changes = {f: [None, v] for f, v in _fields(user).items()}
        announce("user.created", target=user.email, changes={**changes, "password": "set"})
        db.session.commit()
        flash(gettext("User %(email)s created.", email=user.email), "success")
        return redirect(url_for("users.user_list"))
    return render_template("admin/user_form.html", form=form, user=None)


# max: larger ids cannot exist, and PostgreSQL would refuse them as integers.
@bp.route("/users/<int(max=2147483647):user_id>", methods=["GET", "POST"])
@admin_view
def user_edit(user_id):
    """Change a user's name, role or active flag."""
    user = db.get_or_404(User, user_id)
    form = UserEditForm(user)
    if form.validate_on_submit():
        before = _fields(user)
        user.name, user.role, user.active = form.name.data or "", form.role.data, form.active.data
        after = _fields(user)
        changes = {f: [before[f], after[f]] for f in after if before[f] != after[f]}
        if changes:
            if not user.active:  # a deactivated user is logged out everywhere at once
                db.session.execute(db.delete(LoginSession).where(LoginSession.user_id == user.id))
            announce("user.updated", target=user.email, changes=changes)
            db.session.commit()
            flash(gettext("Saved changes to %(email)s.", email=user.email), "success")
        else:
            flash(gettext("Nothing changed."), "info")
        return redirect(url_for("users.user_list"))
    return render_template("admin/user_form.html", form=form, user=user)
