// The interface in French or Arabic (right to left). Answers of the API stay in French: the
// rules, articles and warnings are the agency's official French texts.

const TEXTS = {
  fr: {
    skip: 'Aller à la recherche', brand: 'Géoportail', agency: 'Agence urbaine de Casablanca',
    search_label: 'Rechercher une parcelle (titre foncier), une commune ou des coordonnées',
    search_placeholder: 'Titre foncier (TF 12345/C), commune ou coordonnées…',
    lang_label: 'التبديل إلى العربية', lang_button: 'العربية', help: 'Aide', layers: 'Couches',
    layers_title: 'Couches et légende', layers_close: 'Fermer la liste des couches',
    date_label: 'Carte à la date du', today: "Aujourd'hui", date_hint: "Vide : les données d'aujourd'hui.",
    basemap: 'Fond de carte', basemap_ours: "Plan de l'Agence", basemap_external: 'Fond externe',
    hint: "Cliquez sur la carte (ou appuyez sur Entrée quand elle a le focus) pour connaître les règles d'urbanisme applicables en ce point.",
    data: 'Données :', opendata: 'téléchargements (données ouvertes)', api_docs: "documentation de l'API",
    demo: "Données de démonstration synthétiques : elles n'ont aucune valeur officielle.",
    map_label: 'Carte interactive', info_title: 'Renseignement urbanistique',
    info_close: 'Fermer le renseignement', coords_label: 'Coordonnées du pointeur',
    finish: 'Terminer', close: 'Fermer', cancel: 'Annuler',
    group_planning: 'Urbanisme', group_base: 'Fond de plan', opacity: 'Opacité',
    visible_from: 'visible à partir du zoom',
    tools: 'Outils', tool_polygon: 'Dessiner un polygone', tool_line: 'Dessiner une ligne',
    tool_measure: 'Mesurer', tool_upload: 'Importer un GeoJSON ou un Shapefile zippé',
    tool_print: 'Imprimer la carte', tool_3d: 'Vue 3D',
    help_polygon: 'Cliquez les sommets ; double-cliquez ou « Terminer » pour obtenir les règles de la surface.',
    help_line: 'Cliquez les points de la ligne ; double-cliquez ou « Terminer » : les règles du couloir de 2 m.',
    help_measure: 'Cliquez des points : longueur du tracé et, à partir de trois points, surface (mètres Nord Maroc).',
    length: 'Longueur', area: 'Surface', perimeter: 'Périmètre',
    print_size: 'Format', print_scale: 'Échelle', print_go: 'Créer le PDF',
    print_help: 'La vue actuelle, centrée, avec légende, échelle, nord, date et version des données.',
    loading_point: 'Recherche des règles applicables en ce point…',
    loading_geometry: 'Recherche des règles applicables à la géométrie…',
    outside: "Ce point est en dehors du territoire de l'Agence urbaine de Casablanca.",
    no_answer: "Le renseignement n'a pas pu être obtenu.", no_service: 'Le service ne répond pas ; réessayez.',
    upload_reading: 'Lecture du fichier…',
    three_d_missing: "L'enveloppe constructible n'a pas pu être calculée : la parcelle est montrée à la hauteur maximale de sa zone.",
    three_d_neighbours: 'enveloppes voisines (en transparence)',
    three_d_title: 'Enveloppe constructible', located: 'Votre position',
    note: 'Note de renseignement', official_note: 'Note officielle',
    official_note_request: 'Demander la note officielle (e-renseignement)', copy_link: 'Copier le lien', applies: 'applicable',
    changes_title: "Qu'est-ce qui a changé depuis…", changes_from: 'Depuis le', changes_go: 'Voir',
    h_zoning: 'Zonage', h_servitudes: 'Servitudes', h_reservations: 'Réservations et voirie projetée',
    h_warnings: 'À savoir', h_plans: "Plans d'aménagement", h_rights: 'Droits à construire indicatifs',
    eyebrow_plot: 'Parcelle', eyebrow_point: 'Point sélectionné', eyebrow_geometry: 'Géométrie',
    submitted: 'Géométrie soumise', no_plot: 'Hors parcelle immatriculée', rules_at: 'Règles en vigueur au',
  },
  ar: {
    skip: 'الانتقال إلى البحث', brand: 'البوابة الجغرافية', agency: 'الوكالة الحضرية للدار البيضاء',
    search_label: 'البحث عن عقار (رسم عقاري) أو جماعة أو إحداثيات',
    search_placeholder: 'رسم عقاري (TF 12345/C) أو جماعة أو إحداثيات…',
    lang_label: 'Passer en français', lang_button: 'Français', help: 'مساعدة', layers: 'الطبقات',
    layers_title: 'الطبقات ومفتاح الخريطة', layers_close: 'إغلاق قائمة الطبقات',
    date_label: 'الخريطة بتاريخ', today: 'اليوم', date_hint: 'فارغ: معطيات اليوم.',
    basemap: 'الخلفية', basemap_ours: 'تصميم الوكالة', basemap_external: 'خلفية خارجية',
    hint: 'انقر على الخريطة (أو اضغط Entrée عندما تكون محددة) لمعرفة قواعد التعمير المطبقة في هذه النقطة.',
    data: 'المعطيات:', opendata: 'التحميلات (معطيات مفتوحة)', api_docs: 'توثيق الواجهة البرمجية',
    demo: 'معطيات تجريبية اصطناعية: ليست لها أية قيمة رسمية.',
    map_label: 'خريطة تفاعلية', info_title: 'مذكرة المعلومات التعميرية',
    info_close: 'إغلاق المذكرة', coords_label: 'إحداثيات المؤشر',
    finish: 'إنهاء', close: 'إغلاق', cancel: 'إلغاء',
    group_planning: 'التعمير', group_base: 'الخلفية', opacity: 'الشفافية',
    visible_from: 'مرئية ابتداء من مستوى التكبير',
    tools: 'أدوات', tool_polygon: 'رسم مضلع', tool_line: 'رسم خط',
    tool_measure: 'القياس', tool_upload: 'استيراد ملف GeoJSON أو Shapefile مضغوط',
    tool_print: 'طباعة الخريطة', tool_3d: 'عرض ثلاثي الأبعاد',
    help_polygon: 'انقر على الرؤوس، ثم انقر مرتين أو «إنهاء» لمعرفة قواعد المساحة.',
    help_line: 'انقر على نقط الخط، ثم انقر مرتين أو «إنهاء»: قواعد ممر بعرض 2 م.',
    help_measure: 'انقر على نقط: طول المسار، وابتداء من ثلاث نقط المساحة (أمتار Nord Maroc).',
    length: 'الطول', area: 'المساحة', perimeter: 'المحيط',
    print_size: 'الحجم', print_scale: 'السلم', print_go: 'إنشاء PDF',
    print_help: 'العرض الحالي، مع المفتاح والسلم والشمال والتاريخ ونسخة المعطيات.',
    loading_point: 'البحث عن القواعد المطبقة في هذه النقطة…',
    loading_geometry: 'البحث عن القواعد المطبقة على الشكل…',
    outside: 'هذه النقطة خارج نفوذ الوكالة الحضرية للدار البيضاء.',
    no_answer: 'تعذر الحصول على المعلومات.', no_service: 'الخدمة لا تستجيب؛ أعد المحاولة.',
    upload_reading: 'قراءة الملف…',
    three_d_missing: 'تعذّر حساب الغلاف القابل للبناء: يظهر العقار بأقصى علو لمنطقته.',
    three_d_neighbours: 'أغلفة مجاورة (بشفافية)',
    three_d_title: 'الغلاف القابل للبناء', located: 'موقعك',
    note: 'مذكرة المعلومات', official_note: 'المذكرة الرسمية',
    official_note_request: 'طلب المذكرة الرسمية (الإرشاد الإلكتروني)', copy_link: 'نسخ الرابط', applies: 'مطبق',
    changes_title: 'ما الذي تغير منذ…', changes_from: 'منذ', changes_go: 'عرض',
    h_zoning: 'التنطيق', h_servitudes: 'الارتفاقات', h_reservations: 'الاحتياطات والطرق المبرمجة',
    h_warnings: 'للعلم', h_plans: 'تصاميم التهيئة', h_rights: 'حقوق البناء التقريبية',
    eyebrow_plot: 'عقار', eyebrow_point: 'النقطة المختارة', eyebrow_geometry: 'شكل هندسي',
    submitted: 'شكل مرسل', no_plot: 'خارج العقارات المحفظة', rules_at: 'القواعد السارية في',
  },
};

let current = 'fr';

/** The interface language: 'fr' or 'ar'. */
export function language() {
  return current;
}

/** A text of the interface in the current language (French when missing). */
export function t(key) {
  return TEXTS[current][key] ?? TEXTS.fr[key] ?? key;
}

/** Translate the page's marked elements and set its direction. */
export function apply(lang) {
  current = lang in TEXTS ? lang : 'fr';
  const root = document.documentElement;
  root.lang = current;
  root.dir = current === 'ar' ? 'rtl' : 'ltr';
  for (const element of document.querySelectorAll('[data-i18n]')) element.textContent = t(element.dataset.i18n);
  for (const element of document.querySelectorAll('[data-i18n-label]')) {
    element.setAttribute('aria-label', t(element.dataset.i18nLabel));
  }
  for (const element of document.querySelectorAll('[data-i18n-placeholder]')) {
    element.placeholder = t(element.dataset.i18nPlaceholder);
  }
  const toggle = document.getElementById('lang-toggle');
  toggle.textContent = t('lang_button');
  toggle.lang = current === 'ar' ? 'fr' : 'ar';
  try {
    localStorage.setItem('geoportal-lang', current);
  } catch {
    // private browsing: the choice lasts for the page only
  }
}

/** The language chosen earlier (?lang=, then the stored choice), else French. */
export function initialLanguage() {
  const asked = new URLSearchParams(location.search).get('lang');
  if (asked === 'ar' || asked === 'fr') return asked;
  try {
    return localStorage.getItem('geoportal-lang') === 'ar' ? 'ar' : 'fr';
  } catch {
    return 'fr';
  }
}
