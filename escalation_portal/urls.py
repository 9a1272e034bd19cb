from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("notifications/", include("notifications.urls")),
    path("", include("incidents.urls")),
    # Until the role pages land, everyone starts in the admin.
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False), name="home"),
]
