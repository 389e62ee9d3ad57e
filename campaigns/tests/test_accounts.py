"""Login, logout and password reset by e-mail with our templates."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from campaigns.tests.conftest import PASSWORD


@pytest.mark.django_db
def test_login_logout_and_password_reset_by_email(client, personas, mailoutbox):
    assert client.get(reverse("campaigns:list")).url.startswith(reverse("login"))
    response = client.post(reverse("login"), {"username": "owner", "password": PASSWORD})
    assert response.url == reverse("campaigns:list")
    assert client.post(reverse("logout")).url == reverse("login")
    assert client.get(reverse("campaigns:list")).status_code == 302

    page = client.post(reverse("password_reset"), {"email": "owner@example.com"}, follow=True).content.decode()
    assert "Check your e-mail" in page
    assert len(mailoutbox) == 1 and mailoutbox[0].subject == "Reset your Mimik password"
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+/)", mailoutbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "another-long-password-7", "new_password2": "another-long-password-7"},
        follow=True,
    )
    assert "Your new password is set." in done.content.decode()
    assert client.login(username="owner", password="another-long-password-7")
    assert "invalid or has already been used" in client.get(link, follow=True).content.decode()
