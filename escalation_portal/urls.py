from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from incidents.views.home import home

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("notifications/", include("notifications.urls")),
    path("", include("incidents.urls")),
    # Each user lands on their role's home page.
    path("", home, name="home"),
]
